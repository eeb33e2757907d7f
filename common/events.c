#include "events.h"

#include <string.h>

static const char *const pd_event_names[] = {
#define PD_X(e, name) [e] = name,
    PD_EVENT_TABLE(PD_X)
#undef PD_X
};

const char *pd_event_name(enum pd_event ev)
{
    if ((unsigned)ev >= PD_EV__COUNT)
        return "unknown";
    return pd_event_names[ev];
}

enum pd_event pd_event_from_name(const char *name)
{
    for (unsigned i = 0; i < PD_EV__COUNT; i++)
        if (strcmp(pd_event_names[i], name) == 0)
            return (enum pd_event)i;
    return PD_EV__COUNT;
}
