/*
 * make test SANITIZE=1 preloads the ASan runtime into the server, which is
 * not built with it. ASan then finishes initialising on the first malloc,
 * and in Debian's postgres that malloc comes from bindtextdomain in
 * libgpg-error's constructor, under libintl's lock, which ASan's own
 * initialisation takes again (through dlerror and gettext): the process
 * hangs before main. Preloaded after the runtime, this bindtextdomain lets
 * ASan finish initialising first, then calls the real one. (Other programs,
 * initdb and psql among them, hang the same way elsewhere: only the server
 * gets the runtime.)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

void __asan_init(void);

char *bindtextdomain(const char *domain, const char *dir) {
    static char *(*real)(const char *, const char *);
    __asan_init();
    if (real == NULL) real = (char *(*)(const char *, const char *)) dlsym(RTLD_NEXT, "bindtextdomain");
    return real(domain, dir);
}

