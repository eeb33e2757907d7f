/* message:delivered, message:read, message:delivery-status, message:stats. */
#ifndef PD_RECEIPTS_H
#define PD_RECEIPTS_H

#include "request.h"

enum pd_err pd_handle_delivered(struct pd_req *r);
enum pd_err pd_handle_read(struct pd_req *r);
enum pd_err pd_handle_delivery_status(struct pd_req *r);
enum pd_err pd_handle_message_stats(struct pd_req *r);

#endif
