-- wrk script for the refresh benchmark: every request spends a different, never-used refresh token.
-- Tokens come from the file named by TOKENS (one per line); each wrk thread takes its own slice.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local tokens = {}
  local threadCount = tonumber(os.getenv("WRK_THREADS") or "2")
  local i = 0
  for line in io.lines(os.getenv("TOKENS")) do
    if i % threadCount == index then table.insert(tokens, line) end
    i = i + 1
  end
  _tokens = tokens
  _next = 1
end

function request()
  local token = _tokens[_next]
  if token == nil then token = "exhausted" end
  _next = _next + 1
  return wrk.format("POST", "/", {["Content-Type"] = "application/json"}, '{"refresh":"' .. token .. '"}')
end
