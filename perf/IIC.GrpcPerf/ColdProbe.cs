using System.Diagnostics;
using System.Globalization;
using Google.Protobuf;
using Greeter;

namespace IIC.GrpcPerf;

/// <summary>
/// How much slower this machine runs the same user-mode work right after an idle gap than back to back, with no IPC at
/// all: a fixed piece of what a call does (serialise and parse the greeter's messages, a dictionary lookup), timed warm
/// and after the unary-idle gap. On a VM whose vCPU halts while idle, that work runs several times slower after 5 ms
/// (perf/RESULTS.md, issue 16 round 5): unary-idle pays this factor on every microsecond of its work, the raw futex
/// ping-pong on almost none, which bounds how close the two rows can get.
/// </summary>
internal static class ColdProbe
{
    private static readonly HelloRequest s_request = new() { Name = "perf", Payload = ByteString.CopyFrom(new byte[32]) };

    /// <summary>The work's p50 warm and after <paramref name="gap"/>, in µs, over <paramref name="rounds"/> samples each.</summary>
    public static (double WarmMicros, double ColdMicros) Measure(TimeSpan gap, int rounds)
    {
        var names = Enumerable.Range(0, 512).ToDictionary(i => "greeter.Greeter/Method" + i.ToString(CultureInfo.InvariantCulture), i => i);
        var sink = 0L;
        for (var i = 0; i < 20_000; i++)
        {
            sink += Work(names);
        }
        var warm = new double[rounds];
        var cold = new double[rounds];
        for (var i = 0; i < rounds; i++)
        {
            var start = Stopwatch.GetTimestamp();
            sink += Work(names);
            warm[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }
        for (var i = 0; i < rounds; i++)
        {
            Thread.Sleep(gap);
            var start = Stopwatch.GetTimestamp();
            sink += Work(names);
            cold[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }
        GC.KeepAlive(sink);
        Array.Sort(warm);
        Array.Sort(cold);
        return (warm[rounds / 2], cold[rounds / 2]);
    }

    private static long Work(Dictionary<string, int> names)
    {
        var bytes = s_request.ToByteArray();
        var reply = new HelloReply { Message = "Hello " + HelloRequest.Parser.ParseFrom(bytes).Name, Payload = s_request.Payload };
        return HelloReply.Parser.ParseFrom(reply.ToByteArray()).Payload.Length + names["greeter.Greeter/Method17"];
    }
}
