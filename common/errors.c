#include "errors.h"

#include <string.h>

static const struct {
    const char *name;
    int http;
} pd_err_tab[] = {
    [PD_OK] = {"ok", 200},
#define PD_X(e, name, http) [e] = {name, http},
    PD_ERROR_TABLE(PD_X)
#undef PD_X
};

const char *pd_err_name(enum pd_err e)
{
    if ((unsigned)e >= PD_E__COUNT)
        return "unknown";
    return pd_err_tab[e].name;
}

int pd_err_http_status(enum pd_err e)
{
    if ((unsigned)e >= PD_E__COUNT)
        return 500;
    return pd_err_tab[e].http;
}

enum pd_err pd_err_from_name(const char *name)
{
    for (unsigned i = 1; i < PD_E__COUNT; i++)
        if (strcmp(pd_err_tab[i].name, name) == 0)
            return (enum pd_err)i;
    return PD_E__COUNT;
}
