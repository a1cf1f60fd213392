-- wrk script of bench_serve.py: POST each message of a file of "<length>\n<bytes>"
-- records (args[1]) once, round and round if wrk asks for more, and stop after one pass.
local bodies, total, sent, done = {}, 0, 0, 0

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  local pos = 1
  while pos <= #data do
    local nl = data:find("\n", pos, true)
    local len = tonumber(data:sub(pos, nl - 1))
    bodies[#bodies + 1] = data:sub(nl + 1, nl + len)
    pos = nl + 1 + len
  end
  total = #bodies
end

function request()
  sent = sent + 1
  return wrk.format("POST", "/v1/scan", nil, bodies[((sent - 1) % total) + 1])
end

function response(status, headers, body)
  done = done + 1
  if done >= total then
    wrk.thread:stop()
  end
end
