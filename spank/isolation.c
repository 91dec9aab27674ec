#include <slurm/spank.h>
SPANK_PLUGIN(isolation, 1);
