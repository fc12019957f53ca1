using System.Runtime.CompilerServices;
using IIC.Perf.Core;
using IIC.Perf.Results;

namespace IIC.Perf.Harness;

/// <summary>
/// The server side of ping-pong and idle gap: receive, send the same bytes back. Control messages are echoed too;
/// Mark starts the CPU clock and the count, Stop ends the run. Verification is the client's job.
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
        while (true)
        {
            var control = server.EchoBatch(BatchSize, ref echoed);
            if (control == MessageStamp.Mark)
            {
                echoed = 0;
                cpuStart = CpuClock.ProcessSeconds;
            }
            else if (control == MessageStamp.Stop)
            {
                return new ServerReport(echoed, CpuClock.ProcessSeconds - cpuStart);
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
