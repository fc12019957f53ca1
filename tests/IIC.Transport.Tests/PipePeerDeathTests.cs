using System.Globalization;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// Round 25b (docs/window-layout.md 2.4, "A peer's death after its bytes"): a peer that dies (SIGKILL) after it sent
/// bytes fails the duplex pipe's input only after the application has read every one of them, as a reset does. Before,
/// the receive thread completed the input pipe with the <see cref="PeerDeadException"/>, and System.IO.Pipelines throws
/// a writer's error at the next read whatever is still unread: bytes the pipe had received and the application had not
/// read yet were lost, and the application was not told how many.
/// </summary>
public class PipePeerDeathTests
{
    private const int Ring = 64 * 1024;
    private const int Size = 1000;
    private static readonly TimeSpan s_timeout = PartitionHost.Timeout;

    [Fact]
    public async Task A_peer_that_dies_after_sending_fails_the_input_only_after_its_bytes_are_read()
    {
        using var host = PartitionHost.Start();
        // The child sends 1000 bytes (published in the ring before it prints "connected"), then waits reading.
        var (child, channels) = host.StartChild("reset-watcher", Ring, 1, null, "pipe", Size.ToString(CultureInfo.InvariantCulture));
        using (child)
        {
            var pipe = (IicDuplexPipe)channels[0].AsDuplexPipe();
            try
            {
                child.Process.Kill(); // SIGKILL: no close, no goodbye
                // The receive thread moves the 1000 bytes into the input pipe and ends at the death; nothing was read yet.
                await pipe.ReceiveEnded.WaitAsync(s_timeout);

                var read = 0L;
                Exception? end = null;
                while (end is null)
                {
                    try
                    {
                        var result = await pipe.Input.ReadAsync().AsTask().WaitAsync(s_timeout);
                        Assert.False(result.IsCompleted, "a death is not a clean end");
                        read += result.Buffer.Length;
                        pipe.Input.AdvanceTo(result.Buffer.End);
                    }
                    catch (PeerDeadException e)
                    {
                        end = e;
                    }
                }

                Assert.Equal(Size, read); // round 25: 0, the first read threw
                // Every later read reports the same death, and the output fails with it (the pipe reset after it).
                Assert.Same(end, await Assert.ThrowsAsync<PeerDeadException>(async () => await pipe.Input.ReadAsync()));
                Assert.Same(end, await Assert.ThrowsAsync<PeerDeadException>(async () => await pipe.Output.WriteAsync(new byte[1])));
            }
            finally
            {
                await pipe.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task The_input_completed_before_a_peers_death_is_read_by_nobody_and_the_pipe_ends()
    {
        using var host = PartitionHost.Start();
        var (child, channels) = host.StartChild("reset-watcher", Ring, 1, null, "pipe", Size.ToString(CultureInfo.InvariantCulture));
        using (child)
        {
            var pipe = (IicDuplexPipe)channels[0].AsDuplexPipe();
            try
            {
                for (var read = 0L; read < Size;)
                {
                    var result = await pipe.Input.ReadAsync().AsTask().WaitAsync(s_timeout);
                    read += result.Buffer.Length;
                    pipe.Input.AdvanceTo(result.Buffer.End);
                }
                pipe.Input.Complete(); // everything read: no reset at the Complete
                Assert.Null(pipe.ResetError);
                child.Process.Kill();
                await pipe.ReceiveEnded.WaitAsync(s_timeout);
                // Nobody will read the death: the receive thread resets at once, so the output fails with it.
                Assert.IsType<PeerDeadException>(pipe.ResetError);
                await Assert.ThrowsAsync<PeerDeadException>(async () => await pipe.Output.WriteAsync(new byte[1]));
            }
            finally
            {
                await pipe.DisposeAsync();
            }
        }
    }
}
