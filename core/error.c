/* core/error.c - names and messages for the error table in error.h. */
#include <klimakit/error.h>
#include <string.h>

const char *kk_strerror(int err) {
  switch (err) {
#define KK__ERR_MSG(name, val, msg)                                            \
  case KK_##name:                                                              \
    return msg;
    KK_ERRNO_MAP(KK__ERR_MSG)
#undef KK__ERR_MSG
  case 0:
    return "success";
  default:
    break;
  }
  /* strerror() is not thread-safe in theory; glibc returns static strings
   * for known values, which is all we pass. */
  if (err < 0 && err > -4096) return strerror(-err);
  return "unknown error";
}

const char *kk_err_name(int err) {
  switch (err) {
#define KK__ERR_NAME(name, val, msg)                                           \
  case KK_##name:                                                              \
    return "KK_" #name;
    KK_ERRNO_MAP(KK__ERR_NAME)
#undef KK__ERR_NAME
  case 0:
    return "OK";
  default:
    break;
  }
  if (err < 0 && err > -4096) {
    const char *n = strerrorname_np(-err);
    return n ? n : "EUNKNOWN";
  }
  return "EUNKNOWN";
}
