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

    [Fact]
    public async Task With_threads_queued_for_every_CPU_the_receive_thread_gives_its_spins_up_and_loses_nothing()
    {
        using var host = PartitionHost.Start();
        var (child, channel) = await host.StartChildAsync("transport-echo", 64 * 1024, "pipe");
        using (child)
        await using (var pipe = new IicDuplexPipe(channel, s_spinning).Start())
        {
            var spin = pipe.ReplySpin!;
            using var busy = new BusyThreads(Environment.ProcessorCount + 2);
            var request = new byte[32];
            // Each owed reply starts a spin (unless one backs off); with more runnable threads than CPUs plus one, the
            // spare-CPU probe makes it park instead of holding a CPU the busy threads (in an application: the very
            // threads making the reply) queue for. Bounded rounds; every reply is checked.
            for (var i = 0; i < 3000 && spin.CrowdedSpins == 0; i++)
            {
                BitConverter.TryWriteBytes(request, i);
                await pipe.Output.WriteAsync(request).AsTask().WaitAsync(s_timeout);
                Assert.Equal(request, await ReadExactlyAsync(pipe.Input, request.Length).WaitAsync(s_timeout));
            }
            Assert.True(spin.CrowdedSpins > 0, $"the receive thread never gave a spin up for the crowd ({spin.Describe("pipe")})");
        }
    }

    [Fact]
    public async Task Disposing_the_pipe_while_its_receive_thread_spins_for_a_reply_ends_the_thread()
    {
        var (first, second) = IicChannel.CreatePair(ChannelOptions.Default with { RingCapacity = 64 * 1024, WaitStrategy = WaitStrategy.Park });
        using (first)
        {
            var pipe = new IicDuplexPipe(second, IicPipeOptions.Default with { ReplySpinLimit = TimeSpan.FromSeconds(1) }).Start();
            var spin = pipe.ReplySpin!;
            WaitFor.Condition(() => spin.IsParked, "the idle receive thread parked", s_timeout);
            await pipe.Output.WriteAsync(new byte[8]).AsTask().WaitAsync(s_timeout); // a request the peer never answers
            await pipe.DisposeAsync().AsTask().WaitAsync(s_timeout);
            Assert.True(pipe.ReceiveEnded.IsCompleted);
            Assert.False(pipe.ReceiveThread.IsAlive && !pipe.ReceiveThread.Join(s_timeout), "the receive thread outlived the pipe");
        }
    }

    [Fact]
    public void Stop_ends_a_spin_in_progress_instead_of_letting_it_run_out_its_budget()
    {
        var (first, second) = IicChannel.CreatePair(ChannelOptions.Default with { RingCapacity = 64 * 1024, WaitStrategy = WaitStrategy.Park });
        using (first)
        using (second)
        {
            // A 1 s limit: the first owed reply is spun for 500 ms (twice the initial guess of a quarter of the limit). A
            // probe that never sees a crowd; a loaded box may still end a spin by slow yields, so up to 20 attempts.
            var stopped = false;
            for (var attempt = 0; attempt < 20 && !stopped; attempt++)
            {
                var spin = new ReplySpin(TimeSpan.FromSeconds(1), second.Endpoint.Waiter.Page, second.Endpoint.Window.Memory, new SpareCpu(1_000_000));
                spin.OnFlushed(); // a reply is owed; nothing will come
                var spinner = new Thread(() => spin.SpinForReply(second.Endpoint)) { IsBackground = true };
                spinner.Start();
                WaitFor.TryCondition(() => spin.IsSpinning || !spinner.IsAlive, s_timeout);
                spin.Stop();
                Assert.True(spinner.Join(s_timeout), "the spin did not return after Stop");
                stopped = spin.StoppedSpins == 1; // else it ended by itself first (slow yields on a loaded box, a stalled test thread)
                Assert.False(spin.SpinForReply(second.Endpoint)); // no new spin after Stop
                spin.Dispose();
            }
            Assert.True(stopped, "in 20 attempts no spin was ended by Stop");
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
