using System.Buffers;
using System.IO.Pipelines;
using IIC.Hardware;
using IIC.Tests;
using IIC.Transport;

namespace IIC.AspNetCore.Tests;

/// <summary>
/// The duplex pipe's spin-for-reply policy (IicPipeOptions.ReplySpinLimit): the receive thread spins only while its side
/// is owed a reply (it flushed after it last received), a flush made while it is parked wakes it, and data the side did
/// not ask for never makes it spin. Whether a spin catches the reply depends on the scheduler, so the tests assert the
/// policy's decisions and that every byte still arrives, not latency (that is perf/IIC.GrpcPerf's job).
/// </summary>
[Collection(nameof(ConnectionPumpTests))] // thread measurements: not next to other tests
public class ReplySpinTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);
    private static readonly IicPipeOptions s_spinning = IicPipeOptions.Default with { ReplySpinLimit = TimeSpan.FromMilliseconds(1) };

    [Fact]
    public async Task Request_reply_with_an_echo_in_another_process_spins_for_owed_replies_and_loses_nothing()
    {
        using var host = PartitionHost.Start();
        var (child, channel) = await host.StartChildAsync("transport-echo", 64 * 1024, "pipe");
        using (child)
        await using (var pipe = new IicDuplexPipe(channel, s_spinning).Start())
        {
            var request = new byte[32];
            for (var i = 0; i < 300; i++)
            {
                BitConverter.TryWriteBytes(request, i);
                await pipe.Output.WriteAsync(request).AsTask().WaitAsync(s_timeout);
                var reply = await ReadExactlyAsync(pipe.Input, request.Length).WaitAsync(s_timeout);
                Assert.Equal(request, reply);
            }
            var spin = pipe.ReplySpin!;
            // Every request made a reply owed: the receive thread either was woken by the flush to spin for it, or spun.
            Assert.True(spin.Wakes + spin.Hits + spin.Misses > 0, "300 request/reply rounds never made the receive thread spin for a reply");
        }
    }

    [Fact]
    public async Task Unsolicited_data_never_makes_the_receive_thread_spin_and_a_flush_wakes_it_from_its_park()
    {
        var (first, second) = IicChannel.CreatePair(ChannelOptions.Default with { RingCapacity = 64 * 1024, WaitStrategy = WaitStrategy.Park });
        using (first)
        await using (var peer = new IicDuplexPipe(first).Start())
        await using (var pipe = new IicDuplexPipe(second, s_spinning).Start())
        {
            var spin = pipe.ReplySpin!;
            // The peer talks, this side never flushed: nothing is owed, so the receive thread parks between messages.
            for (var i = 0; i < 50; i++)
            {
                await peer.Output.WriteAsync(new byte[100]).AsTask().WaitAsync(s_timeout);
            }
            Assert.Equal(5000, (await ReadExactlyAsync(pipe.Input, 5000).WaitAsync(s_timeout)).Length);
            Assert.Equal(0, spin.Hits + spin.Misses);
            Assert.Equal(0, spin.Wakes);

            // Parked, then this side flushes: the flush finds it parked and wakes it to spin for the reply.
            WaitFor.Condition(() => spin.IsParked, "the idle receive thread parked", s_timeout);
            await pipe.Output.WriteAsync(new byte[10]).AsTask().WaitAsync(s_timeout);
            Assert.Equal(1, spin.Wakes);
            Assert.Equal(10, (await ReadExactlyAsync(peer.Input, 10).WaitAsync(s_timeout)).Length);
            await peer.Output.WriteAsync(new byte[20]).AsTask().WaitAsync(s_timeout);
            Assert.Equal(20, (await ReadExactlyAsync(pipe.Input, 20).WaitAsync(s_timeout)).Length);
        }
    }

    private static async Task<byte[]> ReadExactlyAsync(PipeReader reader, int length)
    {
        while (true)
        {
            var result = await reader.ReadAsync();
            if (result.Buffer.Length >= length)
            {
                var bytes = result.Buffer.Slice(0, length).ToArray();
                reader.AdvanceTo(result.Buffer.GetPosition(length));
                return bytes;
            }
            Assert.False(result.IsCompleted, $"the pipe ended after {result.Buffer.Length} of {length} bytes");
            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }
}
