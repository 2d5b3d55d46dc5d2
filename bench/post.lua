-- wrk script for bench/run.py: POSTs a JSON body with its own bearer token and Idempotency-Key.
-- Usage: wrk ... -s bench/post.lua URL -- POOL_FILE THREADS ROUND [EXPECT]
-- POOL_FILE holds one request per line, "token<TAB>json body", or "token<TAB>json body<TAB>path" to send it
-- elsewhere than the URL's path; each thread takes every THREADS-th line, so no
-- two threads send the same one. A thread that runs out starts again ("wrapped", reported at the end). A token
-- with a space in it is the whole Authorization header ("Device abc" for pretix), else it is a bearer token.
-- EXPECT, a Lua pattern, is for bench/checked.lua, which runs this script and checks every answer against it.

local threads = {}
local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

function init(args)
   pool, index, wrapped, round, expect, unexpected = {}, 0, 0, args[3], args[4], 0
   local every, n = tonumber(args[2]), 0
   for line in io.lines(args[1]) do
      if n % every == id then
         local token, body, path = line:match("^([^\t]*)\t([^\t]*)\t?(.*)$")
         table.insert(pool, { token:find(" ", 1, true) and token or "Bearer " .. token, body, path ~= "" and path or nil })
      end
      n = n + 1
   end
end

function request()
   index = index + 1
   if index > #pool then
      index, wrapped = 1, wrapped + 1
   end
   local item = pool[index]
   return wrk.format("POST", item[3], {
      ["Content-Type"] = "application/json",
      ["Authorization"] = item[1],
      ["Idempotency-Key"] = string.format("b%s-%d-%d-%d", round, id, wrapped, index),
   }, item[2])
end

function done(summary, latency, requests)
   local total, odd = 0, 0
   for _, thread in ipairs(threads) do
      total = total + (thread:get("wrapped") or 0)
      odd = odd + (thread:get("unexpected") or 0)
   end
   io.write(string.format("wrapped %d\nunexpected %d\n", total, odd))
end
