using System.Diagnostics;
using System.Globalization;
using IIC.Native;

namespace IIC.GrpcPerf;

/// <summary>
/// The <c>raw-futex</c> baseline for <c>unary-idle</c>: a plain futex ping-pong between this process and the server
/// process over one shared memfd page, after the same idle gaps, with nothing else (no rings, no framing, no gRPC). The
/// receiver always sleeps in FUTEX_WAIT and the sender always calls FUTEX_WAKE: the cost of two kernel wake-ups, the
/// floor for any path whose receivers are asleep (the idea of perf/IIC.Perf's raw-futex transport, in 80 lines).
/// The client creates the memfd and the server inherits it (not close-on-exec while the server starts).
/// </summary>
internal sealed class RawFutexPingPong : IDisposable
{
    private const int PingOffset = 0; // client -> server: the request number (-1 stops the server)
    private const int PongOffset = 64; // server -> client: the number answered (its own cache line)
    private const int Length = 4096;

    private readonly FileDescriptor? _file;
    private readonly MappedMemory _memory;

    private RawFutexPingPong(FileDescriptor? file, MappedMemory memory)
    {
        _file = file;
        _memory = memory;
    }

    /// <summary>The descriptor number the server inherits.</summary>
    public string Descriptor => _file!.Value.ToString(CultureInfo.InvariantCulture);

    /// <summary>The client's side: a new memfd page, inheritable by the server process started next.</summary>
    public static RawFutexPingPong Create()
    {
        var file = MemoryFile.Create("grpcperf-raw-futex");
        MemoryFile.SetSize(file, Length);
        var memory = MappedMemory.Map(file, Length);
        file.CloseOnExec = false;
        return new RawFutexPingPong(file, memory);
    }

    /// <summary>The server's side: answers every ping on a dedicated thread until the client stops it.</summary>
    public static void Serve(string descriptor)
    {
        using var file = new FileDescriptor(int.Parse(descriptor, CultureInfo.InvariantCulture));
        var memory = MappedMemory.Map(file, Length);
        var thread = new Thread(() =>
        {
            var answered = 0;
            while (true)
            {
                var ping = memory.ReadAcquireInt32(PingOffset);
                if (ping == answered)
                {
                    Futex.Wait(memory, PingOffset, answered, TimeSpan.FromMilliseconds(100));
                    continue;
                }
                if (ping < 0)
                {
                    return;
                }
                answered = ping;
                memory.WriteReleaseInt32(PongOffset, ping);
                Futex.Wake(memory, PongOffset, 1);
            }
        })
        { IsBackground = true, Name = "raw-futex server" };
        thread.Start();
    }

    /// <summary>Ping-pongs after each idle gap: the latency of one exchange whose both receivers were asleep.</summary>
    public PerfRow Measure(int calls, TimeSpan gap)
    {
        var samples = new double[calls];
        for (var i = 1; i <= calls; i++)
        {
            Thread.Sleep(gap);
            var start = Stopwatch.GetTimestamp();
            _memory.WriteReleaseInt32(PingOffset, i);
            Futex.Wake(_memory, PingOffset, 1);
            int pong;
            while ((pong = _memory.ReadAcquireInt32(PongOffset)) != i)
            {
                Futex.Wait(_memory, PongOffset, pong, TimeSpan.FromMilliseconds(100));
            }
            samples[i - 1] = Stopwatch.GetElapsedTime(start).TotalNanoseconds;
        }
        Array.Sort(samples);
        return new PerfRow("raw-futex", "unary-idle", samples[calls / 2], samples[Math.Min(calls - 1, (int)(0.99 * calls))], null);
    }

    public void Dispose()
    {
        _memory.WriteReleaseInt32(PingOffset, -1);
        Futex.Wake(_memory, PingOffset, 1);
        _file?.Dispose();
        _memory.Dispose();
    }
}
