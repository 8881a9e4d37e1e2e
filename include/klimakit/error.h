/*
 * klimakit/error.h - one table of error codes for the whole toolkit.
 *
 * Every klimakit function that can fail returns 0 on success or a negative
 * KK_E* code.  Failures of libc calls are passed on as -errno, so a caller
 * may see either; kk_strerror() names both.  A function that fails never
 * calls its completion callback.
 */
#ifndef KLIMAKIT_ERROR_H
#define KLIMAKIT_ERROR_H

/* X(name, value, message).  Values stay below -4096 so that they never
 * collide with -errno values.  Append only: codes are part of the ABI. */
#define KK_ERRNO_MAP(X)                                                        \
  X(EINVAL, -5001, "invalid argument")                                         \
  X(ENOMEM, -5002, "out of memory")                                            \
  X(EIO, -5003, "input/output error")                                          \
  X(ECORRUPT, -5004, "corrupt record")                                         \
  X(EUNKNOWN, -5005, "unknown name")                                           \
  X(ETYPE, -5006, "wrong type")                                                \
  X(EMISSING, -5007, "required value missing")                                 \
  X(ERANGE, -5008, "value out of range")                                       \
  X(EFULL, -5009, "queue full")                                                \
  X(EBUSY, -5010, "resource busy")                                             \
  X(ECLOSED, -5011, "already closed")                                          \
  X(EPARSE, -5012, "malformed input")                                          \
  X(EBUDGET, -5013, "instruction budget exceeded")                             \
  X(EMEMCAP, -5014, "memory cap exceeded")                                     \
  X(EGRAPH, -5015, "invalid pipeline graph")                                   \
  X(ELUA, -5016, "Lua error")                                                  \
  X(EABI, -5017, "module ABI version mismatch")                                \
  X(EEXIST, -5018, "already exists")                                           \
  X(ETOOBIG, -5019, "too large")                                               \
  X(EDENIED, -5020, "access denied")

typedef enum kk_errno {
#define KK__ERR_ENUM(name, val, msg) KK_##name = (val),
  KK_ERRNO_MAP(KK__ERR_ENUM)
#undef KK__ERR_ENUM
      KK_OK = 0
} kk_errno_t;

/* Returns a static string describing `err` (a KK_E* code or a -errno
 * value).  Never NULL; unknown codes give "unknown error". */
const char *kk_strerror(int err);

/* Returns the symbolic name of `err` ("KK_EPARSE", "ENOENT"), static. */
const char *kk_err_name(int err);

#endif
