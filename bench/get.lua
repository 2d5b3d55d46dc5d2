-- wrk script for bench/run.py's mixed reads: GETs of many paths, each with its own bearer token.
-- Usage: wrk ... -s bench/get.lua URL -- POOL_FILE THREADS
-- POOL_FILE holds one request per line, "token<TAB>path"; each thread takes every THREADS-th line, starting at
-- its own, and cycles through them for as long as the run lasts (reads change nothing, so going round is fine).

local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
end

function init(args)
   pool, index = {}, 0
   local every, n = tonumber(args[2]), 0
   for line in io.lines(args[1]) do
      if n % every == id then
         local token, path = line:match("([^\t]*)\t(.*)")
         table.insert(pool, wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token }))
      end
      n = n + 1
   end
end

function request()
   index = index % #pool + 1
   return pool[index]
end
