-- Spread wrk's requests over every page instead of hammering one URL.
--
--   wrk -t2 -c32 -d5s -s bench/wrk-paths.lua http://127.0.0.1:PORT -- PATHS_FILE [conditional]
--
-- PATHS_FILE has one "path<TAB>etag" line per page (the manifest written by
-- gen_pages.py --manifest); the etag column is optional. With "conditional"
-- every request carries If-None-Match: <etag>, so an nginx with validators on
-- answers 304 (a lower bound for a "nothing changed" pass).

local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  local file = args[1]
  if not file then
    error("usage: wrk -s wrk-paths.lua URL -- PATHS_FILE [conditional]")
  end
  local conditional = args[2] == "conditional"
  reqs = {}
  for line in io.lines(file) do
    local path, etag = line:match("^(%S+)%s*(.-)%s*$")
    if path then
      local headers = nil
      if conditional and etag ~= "" then
        headers = { ["If-None-Match"] = etag }
      end
      reqs[#reqs + 1] = wrk.format("GET", path, headers)
    end
  end
  assert(#reqs > 0, "no paths in " .. file)
  -- Threads start at different offsets so they do not walk the pages in lock-step.
  idx = ((tid or 0) * 7919) % #reqs
end

function request()
  idx = idx % #reqs + 1
  return reqs[idx]
end
