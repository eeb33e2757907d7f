/* Library version and error strings. */
#include "parley.h"

PARLEY_API int parley_lib_version(int *major, int *minor, int *patch)
{
    if (major)
        *major = PARLEY_VERSION_MAJOR;
    if (minor)
        *minor = PARLEY_VERSION_MINOR;
    if (patch)
        *patch = PARLEY_VERSION_PATCH;
    return PARLEY_VERSION_MAJOR * 10000 + PARLEY_VERSION_MINOR * 100 + PARLEY_VERSION_PATCH;
}

PARLEY_API const char *parley_strerror(int err)
{
    switch (err) {
    case PARLEY_OK:
        return "success";
    case PARLEY_ERR_INVAL:
        return "invalid argument";
    case PARLEY_ERR_NOMEM:
        return "out of memory";
    case PARLEY_ERR_CONNECT:
        return "could not connect to the server";
    case PARLEY_ERR_HANDSHAKE:
        return "the server refused the WebSocket upgrade";
    case PARLEY_ERR_TIMEOUT:
        return "timed out";
    case PARLEY_ERR_CLOSED:
        return "the connection closed";
    case PARLEY_ERR_NOT_CONNECTED:
        return "not connected";
    case PARLEY_ERR_PROTOCOL:
        return "the server broke the protocol";
    case PARLEY_ERR_SERVER:
        return "the server refused the request";
    case PARLEY_ERR_HTTP:
        return "HTTP request failed";
    case PARLEY_ERR_IO:
        return "socket error";
    case PARLEY_ERR_TLS:
        return "TLS failed: the server's certificate was refused or the handshake failed";
    }
    return "unknown error";
}
