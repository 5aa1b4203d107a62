// Package api is shiphook's HTTP surface: the route table (routes.go), every
// handler, the API-key middleware and role checks, request decoding, the
// error answers and pagination. The domain packages (subscriptions,
// dispatcher) know nothing of HTTP; each handler reads the request, calls
// them, and writes their answer.
//
// The OpenAPI document docs/openapi.yaml describes every route of the
// table, and is served at GET /v1/openapi.json; TestOpenAPIMatchesRoutes
// fails when the routes and the document part, naming what each lacks.
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
// # Text no store can keep
//
// Every string a request gives — path and query parameters, the strings
// (keys and values) of a JSON body, the Idempotency-Key header — must be
// storable text: valid UTF-8 without the NUL character (U+0000), which
// PostgreSQL cannot keep. Both databases answer alike, before either is
// asked:
//
//   - a path or query parameter: 422 invalid_field naming the parameter
//     (message_id, cursor, type, …), after authentication and before the
//     role check and the handler; such an id cannot exist and such a
//     filter cannot match, so the rule is the same for both;
//   - a string of a JSON body, \u0000 or invalid UTF-8: 422 invalid_field
//     naming its path (name, shipment.id, data.note); in a batch, that
//     event alone fails (events[i].data.note);
//   - bytes outside any string, a raw NUL byte among them: 400
//     invalid_json;
//   - the Idempotency-Key header: 422 invalid_field naming it.
//
// # Lists
//
// Every list answers {"data": […], "next_cursor": "…"|null, "has_more"}.
// ?limit= takes 1 to 250 items (default 50); ?cursor= is the next_cursor of
// the page before, the id of its last item.
package api
