-- wrk script: bench/post.lua, and every answer's "<status> <body>" must match the Lua pattern EXPECT; those that
-- don't are counted ("unexpected", reported at the end), which bench/run.py's wrk() counts as errors instead of
-- wrk's own count of non-2xx answers (pretix answers a second scan 400 "already_redeemed", by design).
-- Usage: wrk ... -s bench/checked.lua URL -- POOL_FILE THREADS ROUND EXPECT
-- A separate file because wrk reads every answer's body only when the script defines response().

dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "post.lua")

function response(status, headers, body)
   if not (status .. " " .. (body or "")):find(expect) then
      unexpected = unexpected + 1
   end
end
