using BenchmarkDotNet.Attributes;
using IIC.Hardware;
using IIC.Transport;

namespace IIC.Benchmarks;

/// <summary>
/// Message level in one thread: WindowEndpoint.Send (copy in, doorbell check) and then TryReceive (copy out) or
/// Poll (zero copy). 65536 bytes exceeds the 256 KiB ring's largest record (64 KiB - 8) and travels as two
/// fragments, reassembled on receive. The receiver is not armed, so the doorbell is suppressed.
/// </summary>
[MemoryDiagnoser]
public class EndpointBenchmarks
{
    private SharedWindow _window = null!;
    private WindowEndpoint _sender = null!;
    private WindowEndpoint _receiver = null!;
    private byte[] _message = null!;
    private byte[] _buffer = null!;

    [Params(32, 4096, 65536)]
    public int MessageBytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _window = SharedWindow.Create(WindowOptions.WithCapacity(256 * 1024));
        _sender = new WindowEndpoint(_window, 0, WaitStrategy.BusySpin);
        _receiver = new WindowEndpoint(_window, 1, WaitStrategy.BusySpin);
        _message = new byte[MessageBytes];
        _buffer = new byte[MessageBytes];
        Random.Shared.NextBytes(_message);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _receiver.Dispose();
        _sender.Dispose();
        _window.Dispose();
    }

    [Benchmark(Description = "Send+TryReceive")]
    public int SendReceive()
    {
        _sender.Send(_message, long.MaxValue);
        _receiver.TryReceive(_buffer, out var length, 0);
        return length;
    }

    [Benchmark(Description = "Send+Poll (struct handler)")]
    public int SendPoll()
    {
        _sender.Send(_message, long.MaxValue);
        var handler = new LengthHandler();
        _receiver.Poll(ref handler, 1);
        return handler.Length;
    }

    [Benchmark(Description = "Send+Poll (static delegate)")]
    public int SendPollDelegate()
    {
        _sender.Send(_message, long.MaxValue);
        return _receiver.Poll(static (span, _) => { }, 0, 1);
    }

    private struct LengthHandler : IMessageHandler
    {
        public int Length;

        public void OnMessage(ReadOnlySpan<byte> message) => Length = message.Length;
    }
}
