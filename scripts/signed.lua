-- wrk script of the load benchmarks: sends the pre-signed `Authorization` values of the file
-- given after `--`, one per request. Whole requests are built once, in init: request() only picks
-- the next one, so that the script costs wrk as little as possible.
local requests = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do
    requests[#requests + 1] = wrk.format("GET", "/", { ["Authorization"] = line })
  end
end
request = function()
  i = i + 1
  if i > #requests then i = 1 end
  return requests[i]
end
