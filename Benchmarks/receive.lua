-- wrk script for the webhook-receive benchmark: each request is a new message with a valid Standard
-- Webhooks signature, pre-computed by Benchmarks/webhooks.py (SIGNED holds "id<TAB>timestamp<TAB>signature").
local counter = 0
function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
end

function init(args)
  local threads = tonumber(os.getenv("WRK_THREADS") or "2")
  local rows, i = {}, 0
  for line in io.lines(os.getenv("SIGNED")) do
    if i % threads == index then table.insert(rows, line) end
    i = i + 1
  end
  _rows, _next, _body = rows, 1, os.getenv("BODY")
end

function request()
  local row = _rows[_next] or "x\t0\tv1,x"
  _next = _next + 1
  local id, ts, sig = row:match("([^\t]+)\t([^\t]+)\t([^\t]+)")
  return wrk.format("POST", os.getenv("PATH_PREFIX"), {
    ["Content-Type"] = "application/json", ["webhook-id"] = id, ["webhook-timestamp"] = ts, ["webhook-signature"] = sig,
  }, _body)
end
