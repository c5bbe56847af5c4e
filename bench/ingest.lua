-- wrk script of bench/ingest.py: share beacons from many readers (X-Forwarded-For through a
-- trusted proxy), real browser user agents and 2% crawlers, unique event ids; or plain GETs.
-- Environment: BENCH_SITE (key), BENCH_PREFIX (id prefix), BENCH_DELAY_MS (per-request pause
-- per connection, for a fixed lower rate), BENCH_PATH (GET this path instead of POSTing).
local key = os.getenv("BENCH_SITE") or ""
local prefix = os.getenv("BENCH_PREFIX") or "bench"
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local get_path = os.getenv("BENCH_PATH")
local agents = {
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.53",
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
  "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
}
local bots = {
  "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
  "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
}
local services = {"weibo", "wechat", "qq", "x", "facebook", "douban", "copy"}
local counter = 0
local threads_made = 0
thread_no = 0  -- a global: setup() sets each thread's own through thread:set

function setup(thread)
  threads_made = threads_made + 1
  thread:set("thread_no", threads_made)
end

function init(args)
  math.randomseed(os.time() + thread_no * 7919)
end

if delay_ms > 0 then
  function delay() return delay_ms end
end

function request()
  if get_path then
    return wrk.format("GET", get_path)
  end
  counter = counter + 1
  local agent = agents[math.random(#agents)]
  if math.random(100) <= 2 then agent = bots[math.random(#bots)] end
  local ip = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254))
  local body = string.format(
    '{"type":"share","site":"%s","url":"https://example.com/post/%d","service":"%s","id":"%s_%d_%d","title":"A post"}',
    key, math.random(1, 50), services[math.random(#services)], prefix, thread_no, counter)
  return wrk.format("POST", "/v1/events",
    {["Content-Type"] = "text/plain;charset=UTF-8", ["X-Forwarded-For"] = ip, ["User-Agent"] = agent}, body)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"non2xx":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, errors.status, errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
