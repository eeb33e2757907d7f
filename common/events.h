/* Every event name of PROTOCOL.md sections 4 to 6, as one table both the
 * server's dispatcher and the SDK use. X(ENUM, wire name) */
#ifndef PD_EVENTS_H
#define PD_EVENTS_H

#define PD_EVENT_TABLE(X)                                        \
    X(PD_EV_JOIN, "join:chat")                                   \
    X(PD_EV_LEAVE, "leave:chat")                                 \
    X(PD_EV_ROOM_INFO, "room:info")                              \
    X(PD_EV_ROOM_LIST, "room:list")                              \
    X(PD_EV_ROOM_ONLINE, "room:online")                          \
    X(PD_EV_ROOM_SUBSCRIBE, "room:subscribe-multiple")           \
    X(PD_EV_ROOM_UNSUBSCRIBE, "room:unsubscribe-multiple")       \
    X(PD_EV_ROOM_SUB_STATUS, "room:subscription-status")         \
    X(PD_EV_ROOM_SUB_DETAILS, "room:subscription-details")       \
    X(PD_EV_ROOM_INVITE, "room:invite")                          \
    X(PD_EV_MSG_SEND, "message:send")                            \
    X(PD_EV_MSG_HISTORY, "message:history")                      \
    X(PD_EV_MSG_TYPING, "message:typing")                        \
    X(PD_EV_MSG_TYPING_USERS, "message:typing-users")            \
    X(PD_EV_MSG_DELIVERED, "message:delivered")                  \
    X(PD_EV_MSG_READ, "message:read")                            \
    X(PD_EV_MSG_DELIVERY_STATUS, "message:delivery-status")      \
    X(PD_EV_MSG_STATS, "message:stats")                          \
    X(PD_EV_MSG_DELETE, "message:delete")                        \
    X(PD_EV_PRESENCE_UPDATE_STATUS, "presence:update-status")    \
    X(PD_EV_PRESENCE_ONLINE_USERS, "presence:online-users")      \
    X(PD_EV_PRESENCE_USER_STATUS, "presence:user-status")        \
    X(PD_EV_PRESENCE_STATS, "presence:stats")                    \
    X(PD_EV_CONN_CREATE_SESSION, "connection:create-session")    \
    X(PD_EV_CONN_RECOVER, "connection:recover")                  \
    X(PD_EV_CONN_SESSION_INFO, "connection:session-info")        \
    X(PD_EV_CONN_STATS, "connection:stats")                      \
    X(PD_EV_MON_METRICS, "monitoring:metrics")                   \
    X(PD_EV_MON_EVENTS, "monitoring:events")                     \
    X(PD_EV_MON_STATS, "monitoring:stats")                       \
    X(PD_EV_MON_HEALTH, "monitoring:health")

enum pd_event {
#define PD_X(e, name) e,
    PD_EVENT_TABLE(PD_X)
#undef PD_X
    PD_EV__COUNT
};

/* Wire name of an event. */
const char *pd_event_name(enum pd_event ev);
/* The event for a wire name, or PD_EV__COUNT when there is none. */
enum pd_event pd_event_from_name(const char *name);

#endif
