-- wrk script for bench/http_bench.py (one file for every row: fewer places to differ).
-- Arguments after `--` are key=value:
--   mode=post|get   path=/... (for post, "{article}" is replaced per request)
--   expect=202,304  statuses that count as success; anything else is an error
--   run=N           a number unique to this wrk run within the bench, so authors and
--                   addresses never repeat across runs (rate limits stay realistic)
--   key=...         X-Site-Key for posts     articles=N  how many articles posts spread over
--   etag=...        sent as If-None-Match on gets
--   origin=...      sent as Origin (widget requests are cross-origin)
-- done() prints one line, "BENCH_RESULT {json}", that the driver parses.

local threads = {}
local thread_count = 0

function setup(thread)
   thread:set("thread_index", thread_count)
   thread_count = thread_count + 1
   table.insert(threads, thread)
end

local opts = {}
local expected = {}
local counter = 0
local SPACING = 1024
-- Host (and Origin) lines every request carries; gets are one fixed request.
local host_header
local fixed_request
-- Globals (not locals) so that done() can read them through thread:get().
statuses = {}
unexpected = 0

local words = {
   "council", "budget", "road", "school", "mayor", "river", "bridge", "tax", "hospital",
   "election", "park", "library", "traffic", "housing", "water", "police", "market",
   "festival", "teachers", "bus", "parking", "rent", "museum", "weather", "vote",
}

local function text_for(n)
   -- Bodies of 40 to ~400 characters, different for every request.
   local parts = {}
   local count = 6 + (n * 7) % 60
   for i = 1, count do
      parts[i] = words[1 + (n * 31 + i * 17) % #words]
   end
   return "Comment " .. n .. ": " .. table.concat(parts, " ") .. "."
end

function init(args)
   for _, arg in ipairs(args) do
      local k, v = arg:match("^([%w_]+)=(.*)$")
      if k then opts[k] = v end
   end
   for code in opts.expect:gmatch("%d+") do
      expected[tonumber(code)] = true
   end
   host_header = "Host: " .. wrk.host .. ":" .. wrk.port .. "\r\n"
   if opts.origin then
      host_header = host_header .. "Origin: " .. opts.origin .. "\r\n"
   end
   if opts.mode == "get" then
      local headers = host_header
      if opts.etag then
         headers = headers .. "If-None-Match: " .. opts.etag .. "\r\n"
      end
      fixed_request = "GET " .. opts.path .. " HTTP/1.1\r\n" .. headers .. "\r\n"
   end
   opts.run = tonumber(opts.run or "0")
   opts.articles = tonumber(opts.articles or "1")
end

function request()
   if fixed_request then
      return fixed_request
   end
   counter = counter + 1
   -- Every reader posts twice, SPACING requests apart, from one address of their own:
   -- below the site's limits (5 per author, 20 per address a minute), yet the queries
   -- that enforce them find rows, as in production. Spacing keeps one reader's two posts
   -- from being in flight together, which real readers never are.
   local slot = counter % SPACING
   local reader_number = math.floor(counter / (2 * SPACING)) * SPACING + slot
   local reader = string.format("r%d-%d-%d", opts.run, thread_index, reader_number)
   local address = string.format("2001:db8:%x:%x::%x", opts.run, thread_index, reader_number)
   local article = "news-" .. (counter * 7919 + thread_index) % opts.articles
   local body = '{"author":{"id":"' .. reader .. '","name":"Reader ' .. reader ..
      '"},"body":"' .. text_for(counter) .. '"}'
   local path = opts.path:gsub("{article}", article)
   return "POST " .. path .. " HTTP/1.1\r\n" .. host_header ..
      "Content-Type: application/json\r\n" ..
      "X-Site-Key: " .. (opts.key or "") .. "\r\n" ..
      "X-Forwarded-For: " .. address .. "\r\n" ..
      "Content-Length: " .. #body .. "\r\n\r\n" .. body
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   if not expected[status] then
      unexpected = unexpected + 1
      if unexpected <= 3 then
         io.stderr:write("unexpected " .. status .. ": " .. body:sub(1, 300) .. "\n")
      end
   end
end

function done(summary, latency, requests)
   local merged = {}
   local bad = 0
   for _, thread in ipairs(threads) do
      for status, n in pairs(thread:get("statuses")) do
         merged[status] = (merged[status] or 0) + n
      end
      bad = bad + thread:get("unexpected")
   end
   local status_parts = {}
   for status, n in pairs(merged) do
      table.insert(status_parts, string.format('"%d":%d', status, n))
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
      '"max_us":%d,"unexpected":%d,"socket_errors":{"connect":%d,"read":%d,"write":%d,' ..
      '"timeout":%d},"statuses":{%s}}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, bad, e.connect, e.read, e.write, e.timeout,
      table.concat(status_parts, ",")
   ))
end
