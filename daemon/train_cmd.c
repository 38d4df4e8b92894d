/* `brnd train`: one job in the foreground, without the daemon. */
#include "train_cmd.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "engine.h"

typedef struct train_ui {
    int json;
    int log_steps;
    int bar;             /* draw a progress bar on stderr (a terminal) */
    int epochs;
    const brn_job_spec *spec;
} train_ui;

static volatile sig_atomic_t g_stop;

static void on_sigint(int sig)
{
    (void)sig;
    if (g_stop) _exit(130);   /* a second Ctrl-C does not wait for the batch boundary */
    g_stop = 1;
}

static int ui_should_stop(void *user)
{
    (void)user;
    return g_stop;
}

static void ui_log(void *user, int warning, const char *msg)
{
    (void)user;
    fprintf(stderr, "%s%s\n", warning ? "warning: " : "", msg);
}

static void ui_start(void *user, const brn_run_info *in)
{
    train_ui *ui = user;
    const brn_job_spec *s = ui->spec;
    ui->epochs = in->epochs;
    fprintf(stderr, "WRN-%d-%d %s on %s: %ld train / %ld test images %dx%dx%d, %d classes, %.2fM parameters, %s\n",
            s->depth, s->width, brn_norm_kind_name(s->norm), s->dataset, in->train_examples, in->test_examples, in->in_h,
            in->in_w, in->in_c, in->classes, in->parameters / 1e6, in->device);
    if (in->total_steps == (long)in->epochs * in->steps_per_epoch)
        fprintf(stderr, "%d epoch(s) x %ld steps = %ld steps, batch %d, lr %g (%s)\n", in->epochs, in->steps_per_epoch,
                in->total_steps, s->batch_size, s->lr, brn_lr_schedule_name(s->lr_schedule));
    else   /* --steps: the last epoch is cut short */
        fprintf(stderr, "%ld steps (%d epoch(s) of up to %ld steps), batch %d, lr %g (%s)\n", in->total_steps,
                in->epochs, in->steps_per_epoch, s->batch_size, s->lr, brn_lr_schedule_name(s->lr_schedule));
    if (in->start_step)
        fprintf(stderr, "resumed at step %ld (%d epoch(s) done)\n", in->start_step, in->start_epoch);
}

static void ui_step(void *user, const brn_step_info *si)
{
    train_ui *ui = user;
    if (ui->log_steps && si->step % ui->log_steps == 0) {
        if (ui->json)
            printf("{\"step\":%ld,\"epoch\":%d,\"batch\":%ld,\"loss\":%.6g,\"acc\":%.6g,\"lr\":%.6g,\"rmax\":%.6g,"
                   "\"dmax\":%.6g,\"images_per_sec\":%.4g}\n",
                   si->step, si->epoch, si->batch, si->loss, si->acc, si->lr, si->rmax, si->dmax, si->images_per_sec);
        else
            printf("step %ld  epoch %d  batch %ld/%ld  loss %.4f  acc %.2f%%  lr %.4g\n", si->step, si->epoch,
                   si->batch, si->batches_per_epoch, si->loss, 100 * si->acc, si->lr);
        fflush(stdout);
    }
    if (ui->bar) {
        const int width = 30;
        int done = (int)(width * si->batch / si->batches_per_epoch);
        fprintf(stderr, "\r[%.*s%*s] epoch %d/%d  %ld/%ld  loss %.4f  %.1f img/s ", done,
                "==============================", width - done, "", si->epoch, ui->epochs, si->batch,
                si->batches_per_epoch, si->loss, si->images_per_sec);
        fflush(stderr);
    }
}

static void ui_epoch(void *user, const brn_epoch_metrics *m)
{
    train_ui *ui = user;
    if (ui->bar) fprintf(stderr, "\r\033[K");
    if (ui->json) {
        json_t *o = json_pack("{s:i, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "epoch", m->epoch, "step",
                              (json_int_t)m->step, "train_loss", m->train_loss, "train_acc", m->train_acc, "lr", m->lr,
                              "rmax", m->rmax, "dmax", m->dmax, "seconds", m->seconds, "images_per_sec",
                              m->images_per_sec);
        json_object_set_new(o, "test_loss", m->evaluated ? json_real(m->test_loss) : json_null());
        json_object_set_new(o, "test_acc", m->evaluated ? json_real(m->test_acc) : json_null());
        if (m->n_diag) {
            json_t *d = json_array();
            for (int i = 0; i < m->n_diag; i++)
                json_array_append_new(d, json_pack("{s:s, s:f, s:f, s:f, s:f}", "layer", m->diag[i].layer,
                                                   "mean_abs_r_minus_1", m->diag[i].mean_abs_r_minus_1, "mean_abs_d",
                                                   m->diag[i].mean_abs_d, "frac_r_clipped", m->diag[i].frac_r_clipped,
                                                   "frac_d_clipped", m->diag[i].frac_d_clipped));
            json_object_set_new(o, "renorm_diag", d);
        }
        char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7));
        printf("%s\n", text);
        free(text);
        json_decref(o);
    } else {
        printf("epoch %3d/%d  train loss %.4f acc %6.2f%%", m->epoch, ui->epochs, m->train_loss, 100 * m->train_acc);
        if (m->evaluated) printf("  test loss %.4f acc %6.2f%%", m->test_loss, 100 * m->test_acc);
        printf("  lr %.4g", m->lr);
        if (ui->spec->norm == BRN_NORM_BRN) printf("  rmax %.3g dmax %.3g", m->rmax, m->dmax);
        printf("  %.1f img/s  %.1fs\n", m->images_per_sec, m->seconds);
    }
    fflush(stdout);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: brnd train [--json] [--resume] [job options]\n"
            "Trains one job in the foreground. --json prints one JSON object per epoch (and per\n"
            "--log-steps steps); --resume continues from <checkpoint-dir>/" BRN_LAST_CHECKPOINT " when present.\n"
            "Ctrl-C stops at the next batch boundary (after writing a checkpoint when --checkpoint-dir is set).\n\n"
            "job options:\n");
    brn_spec_print_help(out);
}

static int exit_code(int rc)
{
    switch (rc) {
    case BRN_OK: return 0;
    case BRN_STOPPED: return 130;
    case BRN_EINVAL: return EX_USAGE;
    case BRN_EDATA: return EX_DATAERR;
    case BRN_ECHECKPOINT: return EX_DATAERR;
    case BRN_EIO: return EX_IOERR;
    case BRN_ENOMEM: return EX_OSERR;
    case BRN_EDEVICE: return EX_UNAVAILABLE;
    default: return 1;
    }
}

int train_cmd_main(int argc, char **argv)
{
    brn_job_spec spec;
    brn_spec_defaults(&spec);
    train_ui ui = {0};
    int resume = 0, rest[256], n_rest = 0;
    char err[1024];
    if (argc > 256) {
        fprintf(stderr, "brnd train: too many arguments\n");
        return EX_USAGE;
    }
    if (brn_spec_parse_args(&spec, argc, argv, err, sizeof err, 1, rest, &n_rest)) {
        fprintf(stderr, "brnd train: %s\n", err);
        return EX_USAGE;
    }
    for (int i = 0; i < n_rest; i++) {
        const char *a = argv[rest[i]];
        if (!strcmp(a, "--json")) ui.json = 1;
        else if (!strcmp(a, "--resume")) resume = 1;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "brnd train: unknown option '%s' (see brnd train --help)\n", a);
            return EX_USAGE;
        }
    }
    if (brn_spec_validate(&spec, err, sizeof err)) {
        fprintf(stderr, "brnd train: %s\n", err);
        return EX_USAGE;
    }
    char resume_path[BRN_SPEC_PATH_LEN + 64] = "";
    if (spec.checkpoint_dir[0]) {
        if (mkdir(spec.checkpoint_dir, 0755) && access(spec.checkpoint_dir, W_OK)) {
            fprintf(stderr, "brnd train: checkpoint-dir: cannot create or write %s\n", spec.checkpoint_dir);
            return EX_CANTCREAT;
        }
        snprintf(resume_path, sizeof resume_path, "%s/%s", spec.checkpoint_dir, BRN_LAST_CHECKPOINT);
    } else if (resume) {
        fprintf(stderr, "brnd train: --resume needs --checkpoint-dir\n");
        return EX_USAGE;
    }
    int can_resume = resume && access(resume_path, R_OK) == 0;
    if (resume && !can_resume) fprintf(stderr, "no checkpoint at %s: starting fresh\n", resume_path);

    ui.log_steps = spec.log_steps;
    ui.bar = isatty(STDERR_FILENO) && !ui.json;
    ui.spec = &spec;
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    const brn_train_hooks hooks = {.user = &ui, .on_start = ui_start, .on_step = ui_step, .on_epoch = ui_epoch,
                                   .should_stop = ui_should_stop, .on_log = ui_log};
    int rc = brn_train(&spec, can_resume ? resume_path : NULL, &hooks, err, sizeof err);
    if (ui.bar) fprintf(stderr, "\r\033[K");
    if (rc == BRN_STOPPED)
        fprintf(stderr, "stopped%s\n", spec.checkpoint_dir[0] ? "; continue with the same options and --resume" : "");
    else if (rc)
        fprintf(stderr, "brnd train: %s (%s)\n", err, brn_error_name(rc));
    return exit_code(rc);
}
