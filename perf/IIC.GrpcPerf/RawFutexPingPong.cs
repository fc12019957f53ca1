using System.Diagnostics;
using System.Globalization;
using Google.Protobuf;
using Greeter;
using IIC.Native;

namespace IIC.GrpcPerf;

/// <summary>
/// The <c>raw-futex</c> baseline for <c>unary-idle</c>: a plain futex ping-pong between this process and the server
/// process over one shared memfd page, after the same idle gaps, with nothing else (no rings, no framing, no gRPC). The
/// receiver always sleeps in FUTEX_WAIT and the sender always calls FUTEX_WAKE: the cost of two kernel wake-ups, the
/// floor for any path whose receivers are asleep (the idea of perf/IIC.Perf's raw-futex transport, in 80 lines).
/// The client creates the memfd and the server inherits it (not close-on-exec while the server starts).
/// <para>The <c>raw-futex+protobuf</c> row adds exactly the message work of the greeter's unary call and nothing else: the
/// client serialises the request into the page before its ping and parses the reply after the pong; the server parses
/// the request and serialises the reply ("Hello " + name, the payload echoed) between its wake-up and its pong. Two
/// wake-ups, no rings, no framing, no call objects: what unary-idle would cost if a call were only its messages, done
/// cold after the same gap.</para>
/// </summary>
internal sealed class RawFutexPingPong : IDisposable
{
    private const int PingOffset = 0; // client -> server: the request number (-1 stops the server)
    private const int PongOffset = 64; // server -> client: the number answered (its own cache line)
    private const int WorkOffset = 128; // 1: the ping carries a serialised HelloRequest, the pong a HelloReply
    private const int MessageLengthOffset = 192; // the serialised message's length (request, then the reply over it)
    private const int MessageOffset = 256; // the serialised message
    private const int MessageRoom = 4096 - MessageOffset;
    private const int Length = 4096;

    private static readonly HelloRequest s_request = new() { Name = "perf", Payload = ByteString.CopyFrom(new byte[32]) };

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
                if (memory.ReadAcquireInt32(WorkOffset) == 1)
                {
                    // Written by the client before its ping (release) and read after it (acquire): whole. A bad length
                    // (the client is this program) would throw here and end the baseline, not corrupt anything.
                    var length = memory.ReadAcquireInt32(MessageLengthOffset);
                    var request = HelloRequest.Parser.ParseFrom(memory.GetSpan(MessageOffset, length));
                    var reply = new HelloReply { Message = "Hello " + request.Name, Payload = request.Payload };
                    var size = reply.CalculateSize();
                    reply.WriteTo(memory.GetSpan(MessageOffset, size));
                    memory.WriteReleaseInt32(MessageLengthOffset, size);
                }
                memory.WriteReleaseInt32(PongOffset, ping);
                Futex.Wake(memory, PongOffset, 1);
            }
        })
        { IsBackground = true, Name = "raw-futex server" };
        thread.Start();
    }

    /// <summary>
    /// Ping-pongs after each idle gap: the latency of one exchange whose both receivers were asleep; with
    /// <paramref name="withMessages"/> each side also does the greeter's message work (the <c>raw-futex+protobuf</c> row).
    /// </summary>
    public PerfRow Measure(int calls, TimeSpan gap, bool withMessages = false)
    {
        var samples = new double[calls];
        _memory.WriteReleaseInt32(WorkOffset, withMessages ? 1 : 0); // read by the server after the next ping (release/acquire)
        var sink = 0;
        for (var i = 1; i <= calls; i++)
        {
            Thread.Sleep(gap);
            var start = Stopwatch.GetTimestamp();
            if (withMessages)
            {
                var size = s_request.CalculateSize();
                s_request.WriteTo(_memory.GetSpan(MessageOffset, size));
                _memory.WriteReleaseInt32(MessageLengthOffset, size);
            }
            _memory.WriteReleaseInt32(PingOffset, _round + i);
            Futex.Wake(_memory, PingOffset, 1);
            int pong;
            while ((pong = _memory.ReadAcquireInt32(PongOffset)) != _round + i)
            {
                Futex.Wait(_memory, PongOffset, pong, TimeSpan.FromMilliseconds(100));
            }
            if (withMessages)
            {
                var length = _memory.ReadAcquireInt32(MessageLengthOffset);
                sink += HelloReply.Parser.ParseFrom(_memory.GetSpan(MessageOffset, Math.Clamp(length, 0, MessageRoom))).Message.Length;
            }
            samples[i - 1] = Stopwatch.GetElapsedTime(start).TotalNanoseconds;
        }
        _round += calls; // ping numbers keep rising across rows: the server answers each once
        GC.KeepAlive(sink);
        Array.Sort(samples);
        return new PerfRow(withMessages ? "raw-futex+protobuf" : "raw-futex", "unary-idle", samples[calls / 2], samples[Math.Min(calls - 1, (int)(0.99 * calls))], null);
    }

    private int _round;

    public void Dispose()
    {
        _memory.WriteReleaseInt32(PingOffset, -1);
        Futex.Wake(_memory, PingOffset, 1);
        _file?.Dispose();
        _memory.Dispose();
    }
}
