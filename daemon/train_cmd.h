#ifndef BRN_TRAIN_CMD_H
#define BRN_TRAIN_CMD_H
/* `brnd train [options]`: argv excludes "train". Returns a sysexits.h exit status. */
int train_cmd_main(int argc, char **argv);
#endif
