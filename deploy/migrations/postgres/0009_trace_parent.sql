-- The W3C traceparent of the span that took an event in, when tracing is
-- on: fan-out and every delivery attempt of the event, in whatever process
-- and however much later, join its trace. '' when tracing was off.
ALTER TABLE events ADD COLUMN trace_parent TEXT NOT NULL DEFAULT '';
