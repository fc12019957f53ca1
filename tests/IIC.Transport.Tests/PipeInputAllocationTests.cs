using System.Buffers;
using System.IO.Pipelines;

namespace IIC.Transport.Tests;

/// <summary>
/// The duplex pipe's input reader (RefusalDeferringReader since round 21, docs/window-layout.md 2.4) allocates nothing
/// per message: a read that waits for the next message goes through a pooled state machine. With inline scheduling the
/// whole echo (ring to input pipe, the application's read, its write and flush, the send into the ring) runs on the
/// pipe's receive thread, which counts its own allocations; in the IsolatedTests collection so nothing else competes.
/// </summary>
[Collection(nameof(IsolatedTests))]
public class PipeInputAllocationTests
{
    private const int Warmup = 2_000;
    private const int Rounds = 20_000;
    private const int MessageLength = 64;

    [Fact]
    public async Task A_duplex_pipe_echo_whose_reads_wait_for_each_message_allocates_nothing_per_message()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 64 * 1024, Name = "pipe-alloc" });
        using (b)
        {
            // Inline scheduling: the reader continues on the pipe's receive thread (the thread pool's hop allocates a work item).
            var pipe = a.AsDuplexPipe(new IicPipeOptions { ApplicationScheduler = PipeScheduler.Inline });
            var echo = new Echo(pipe);
            var echoing = echo.RunAsync();
            try
            {
                var message = new byte[MessageLength];
                var buffer = new byte[256];
                for (var i = 0; i < Warmup + Rounds + 1; i++)
                {
                    BitConverter.TryWriteBytes(message, i);
                    b.Send(message); // one message at a time: every read of the pipe waits for it (the pending path)
                    var length = b.Receive(buffer);
                    Assert.True(length == MessageLength && BitConverter.ToInt32(buffer) == i, $"round {i}: the echo returned {length} bytes stamped {BitConverter.ToInt32(buffer)}");
                }
            }
            finally
            {
                await pipe.Output.CompleteAsync();
                a.Dispose();
                await echoing.WaitAsync(TimeSpan.FromSeconds(30));
            }
            Assert.True(echo.SameThread, "the echo did not run on one thread between its two counts (not inline on the receive thread)");
            // Any allocation per message would be at least 24 bytes each: 480 000 bytes over these rounds.
            Assert.True(echo.Allocated < Rounds, $"{echo.Allocated} bytes allocated over {Rounds} echoed messages ({(double)echo.Allocated / Rounds:0.00} per message)");
        }
    }

    /// <summary>Writes back whatever the input delivers until it ends, counting its thread's allocations over the measured rounds.</summary>
    private sealed class Echo(IDuplexPipe pipe)
    {
        private long _before;
        private int _beforeThread;

        public long Allocated { get; private set; } = -1;

        public bool SameThread { get; private set; }

        public async Task RunAsync()
        {
            long echoed = 0;
            try
            {
                while (true)
                {
                    var result = await pipe.Input.ReadAsync();
                    foreach (var segment in result.Buffer)
                    {
                        pipe.Output.Write(segment.Span);
                    }
                    echoed += result.Buffer.Length;
                    pipe.Input.AdvanceTo(result.Buffer.End);
                    await pipe.Output.FlushAsync();
                    if (echoed == (long)Warmup * MessageLength)
                    {
                        _beforeThread = Environment.CurrentManagedThreadId;
                        _before = GC.GetAllocatedBytesForCurrentThread();
                    }
                    else if (echoed == (long)(Warmup + Rounds) * MessageLength)
                    {
                        Allocated = GC.GetAllocatedBytesForCurrentThread() - _before;
                        SameThread = Environment.CurrentManagedThreadId == _beforeThread;
                    }
                    if (result.IsCompleted)
                    {
                        return;
                    }
                }
            }
            catch (Exception e) when (e is IicChannelClosedException or ObjectDisposedException or InvalidOperationException)
            {
                // the test's end: the channel closed under the loop
            }
        }
    }
}
