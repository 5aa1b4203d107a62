// Package api is shiphook's HTTP surface: the route table (routes.go), every
// handler, the API-key middleware and role checks, request decoding, the
// error answers and pagination. The domain packages (subscriptions,
// dispatcher) know nothing of HTTP; each handler reads the request, calls
// them, and writes their answer.
//
// Handlers are maker functions: each takes its dependencies, as a small
// interface declared beside it with only the methods it calls, and returns
// a gin.HandlerFunc. New wires them to one store.
//
// # Errors
//
// Every error answer has the same shape,
//
//	{"error": {"code": "not_found", "message": "…", "field": "…"}}
//
// with field only when one input is at fault. Domain code returns typed
// errors, and abort maps them to a status in one place (toError):
//
//   - *subscriptions.FieldError: 422 invalid_field, naming the field;
//   - *subscriptions.Error, a domain error that carries its own stable code
//     and message: its Kind picks the status (Malformed 400, TooLarge 413,
//     NotFound 404, Conflict 409);
//   - subscriptions.ErrNotFound and ErrConflict, however wrapped: 404
//     not_found and 409 conflict;
//   - subscriptions.ErrUnavailable, however wrapped (the database or Redis
//     could not be reached): logged, and answered 503 unavailable with a
//     Retry-After of RetryUnavailable, without its text;
//   - *Error, for what only HTTP knows (401 unauthorized, 403 forbidden,
//     an unknown route, an unreadable body): as it is;
//   - anything else: logged, and answered 500 internal_error without its
//     text.
//
// # Lists
//
// Every list answers {"data": […], "next_cursor": "…"|null, "has_more"}.
// ?limit= takes 1 to 250 items (default 50); ?cursor= is the next_cursor of
// the page before, the id of its last item.
package api
