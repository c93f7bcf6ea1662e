/* version: the program's version and the checkpoint format it writes. */
#ifndef MPITRAIN_VERSION_H
#define MPITRAIN_VERSION_H

#define MPITRAIN_VERSION "0.1.0"

#endif
