using BenchmarkDotNet.Attributes;
using IIC.Transport;

namespace IIC.Benchmarks;

/// <summary>
/// What one-way streaming costs each end in instructions, without the cross-core traffic: on one thread, a burst of
/// <see cref="Burst"/> 32 B messages through the public API (role gate included), then the same burst taken back,
/// per message (a send and a receive each). Round 9 found the one-way rate sender-bound (iic 16-20 M msgs/s in every
/// mode and API against raw-shm's 40-48 M, and 24-28 ns per 32 B send in such a loop; perf/RESULTS.md): this is the
/// deterministic number to cut before timing one-way runs across cores. EndpointBenchmarks has the same below the gates.
/// </summary>
[MemoryDiagnoser]
public class ChannelBatchBenchmarks
{
    private const int Burst = 4096; // 256 KiB of 64 B records: the ring (1 MiB) never fills
    private IicChannel _sender = null!;
    private IicChannel _receiver = null!;
    private readonly byte[] _message = new byte[32];
    private readonly byte[] _buffer = new byte[64];

    /// <summary>A default channel (roles taken by biased gates) or one declared SingleWriter/SingleReader.</summary>
    [Params(false, true)]
    public bool SingleRoles { get; set; }

    [GlobalSetup]
    public void Setup()
        => (_sender, _receiver) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 1 << 20, SingleWriter = SingleRoles, SingleReader = SingleRoles });

    [GlobalCleanup]
    public void Cleanup()
    {
        _receiver.Dispose();
        _sender.Dispose();
    }

    [Benchmark(Description = "Send burst, then TryReceive it (per message)", OperationsPerInvoke = Burst)]
    public int SendThenDrain()
    {
        for (var i = 0; i < Burst; i++)
        {
            _sender.Send(_message);
        }
        return Drain();
    }

    private int Drain()
    {
        var total = 0;
        while (_receiver.TryReceive(_buffer, out var length))
        {
            total += length;
        }
        return total;
    }
}
