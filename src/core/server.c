#include "server.h"

#include "config.h"
#include "log.h"
#include "module.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static size_t started; /* modules started, from the front of modules[] */

void server_register_config(void)
{
    for (size_t m = 0; m < modules_count; m++)
        if (modules[m]->nconfig)
            config_register(modules[m]->config, modules[m]->nconfig);
}

static int make_dir(const char *path, char *err, size_t errlen)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            goto fail;
        *p = '/';
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
        goto fail;
    return 0;
fail:
    snprintf(err, errlen, "cannot create data dir '%s': %s", tmp,
             strerror(errno));
    return -1;
}

int server_start_modules(char *err, size_t errlen)
{
    if (make_dir(config_dir, err, errlen) < 0)
        return -1;
    for (started = 0; started < modules_count; started++) {
        const struct module *m = modules[started];
        if (m->start && m->start(err, errlen) < 0) {
            char why[512];
            snprintf(why, sizeof(why), "%s", err);
            snprintf(err, errlen, "%s: %s", m->name, why);
            server_stop_modules();
            return -1;
        }
    }
    return 0;
}

void server_stop_modules(void)
{
    while (started > 0) {
        const struct module *m = modules[--started];
        if (m->stop)
            m->stop();
    }
}

int server_reload(char *err, size_t errlen)
{
    log_info("DEBUG RELOAD: stopping and restarting every module");
    server_stop_modules();
    return server_start_modules(err, errlen);
}
