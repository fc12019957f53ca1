using System.Diagnostics;
using Google.Protobuf;
using Greeter;
using Grpc.Core;

namespace IIC.GrpcPerf;

/// <summary>One transport's numbers in one round.</summary>
internal sealed record RoundResult(string Transport, int Round, double P50Us, double P99Us, double MeanUs, double StreamMBps, double StreamMsgsPerSec);

/// <summary>The two measurements, made the same way over every transport.</summary>
internal static class Measurements
{
    /// <summary>Unary round trips one after another: the latency of each, in µs, sorted.</summary>
    public static async Task<double[]> UnaryAsync(Greeter.Greeter.GreeterClient client, int warmup, int calls)
    {
        var request = new HelloRequest { Name = "perf" };
        for (var i = 0; i < warmup; i++)
        {
            await client.SayHelloAsync(request);
        }
        var samples = new double[calls];
        for (var i = 0; i < calls; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await client.SayHelloAsync(request);
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }
        Array.Sort(samples);
        return samples;
    }

    /// <summary>One server stream of <paramref name="count"/> replies of <paramref name="payload"/> bytes: (MB/s of payload, messages/s).</summary>
    public static async Task<(double MBps, double MsgsPerSec)> StreamAsync(Greeter.Greeter.GreeterClient client, int count, int payload)
    {
        var request = new HelloRequest { Name = "s", Count = count, Payload = ByteString.CopyFrom(new byte[payload]) };
        var start = Stopwatch.GetTimestamp();
        using var call = client.SayHellos(request);
        var received = 0;
        await foreach (var reply in call.ResponseStream.ReadAllAsync())
        {
            received++;
        }
        var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        if (received != count)
        {
            throw new InvalidOperationException($"The stream ended after {received} of {count} replies.");
        }
        return ((double)count * payload / seconds / 1e6, count / seconds);
    }

    public static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
}
