# A Rack application for poolwatch's Puma example and tests.
#
# GET /           answers at once.
# GET /slow?seconds=S
#                 holds its thread for S seconds (at most 300), or until the file named by the
#                 environment variable POOLWATCH_RELEASE exists, so that a test can occupy
#                 every thread and then free them all at once.
# Only the standard library: Debian's puma runs it without the rack gem.
require "uri"

release = ENV.fetch("POOLWATCH_RELEASE", "")

run lambda { |env|
  if env["PATH_INFO"] == "/slow"
    seconds = Float(URI.decode_www_form(env["QUERY_STRING"].to_s).to_h.fetch("seconds", "1"), exception: false)
    next [400, { "content-type" => "text/plain" }, ["seconds must be a number\n"]] if seconds.nil?
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + [seconds, 300.0].min
    while Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
      break if !release.empty? && File.exist?(release)
      sleep 0.05
    end
  end
  [200, { "content-type" => "text/plain" }, ["ok\n"]]
}
