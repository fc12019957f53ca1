using System.Diagnostics;
using System.Runtime.CompilerServices;
using IIC.Perf.Core;
using IIC.Perf.Results;

namespace IIC.Perf.Harness;

/// <summary>
/// The server side of ping-pong and idle gap: receive, send the same bytes back. Control messages are echoed too;
/// Mark starts the CPU clock and the count, Idle ends the measured phase and starts the idle one (the client then
/// stays quiet), Stop ends the run. Verification is the client's job.
/// </summary>
internal sealed class EchoServer
{
    private const int BatchSize = 32;
    private readonly IMessageEndpoint _endpoint;
    private readonly byte[] _buffer;

    private EchoServer(IMessageEndpoint endpoint, int size)
    {
        _endpoint = endpoint;
        _buffer = new byte[size];
    }

    public static ServerReport Run(IMessageEndpoint endpoint, LinkOptions link)
    {
        ArgumentNullException.ThrowIfNull(link);
        var server = new EchoServer(endpoint, link.MessageSize);
        long echoed = 0;
        var cpuStart = CpuClock.ProcessSeconds;
        double? measuredCpu = null;
        long idleStart = 0;
        while (true)
        {
            var control = server.EchoBatch(BatchSize, ref echoed);
            if (control == MessageStamp.Mark)
            {
                echoed = 0;
                cpuStart = CpuClock.ProcessSeconds;
            }
            else if (control == MessageStamp.Idle)
            {
                var now = CpuClock.ProcessSeconds;
                measuredCpu = now - cpuStart;
                cpuStart = now;
                idleStart = Stopwatch.GetTimestamp();
            }
            else if (control == MessageStamp.Stop)
            {
                var cpu = CpuClock.ProcessSeconds - cpuStart;
                return measuredCpu is { } measured
                    ? new ServerReport(echoed, measured, cpu / Stopwatch.GetElapsedTime(idleStart).TotalSeconds)
                    : new ServerReport(echoed, cpu);
            }
        }
    }

    /// <summary>Echoes up to <paramref name="count"/> messages; returns the control code that ended the batch early, or 0.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private long EchoBatch(int count, ref long echoed)
    {
        var endpoint = _endpoint;
        var buffer = _buffer;
        for (var i = 0; i < count; i++)
        {
            var length = endpoint.Receive(buffer);
            var message = buffer.AsSpan(0, length);
            endpoint.Send(message);
            var sequence = MessageStamp.Read(message);
            if (sequence < 0)
            {
                return sequence;
            }
            echoed++;
        }
        return 0;
    }
}
