using System.Buffers;
using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// Round 25 (docs/window-layout.md 2.4, "The stream's kept bytes at Dispose"): disposing an IicStream while another thread
/// reads its kept bytes (the rest of a longer message) leaves that read's bytes intact. Before, Dispose returned the kept
/// bytes' buffer to ArrayPool.Shared while the read still copied out of it: the next Rent of that size on the disposing
/// thread got the very array, and what its renter wrote reached the reader's buffer. Provoked for real: a 32 MiB copy on
/// a reader thread (long enough to span the scheduler's slices on a loaded machine), disposed as soon as its first bytes
/// have landed (a spin on the destination, no sleep), then the disposing thread rents that size and overwrites the whole
/// array while the copy goes on. On the round 24 code the read returned the renter's bytes in each of 4 runs.
/// </summary>
public class StreamDisposeDuringReadTests
{
    private const int Ring = 128 << 20;
    private const int Message = Ring / 4 - 8; // 32 MiB - 8, the largest one-record message: read in place, its rest kept in one pooled array
    private const byte Sent = 0x5A;
    private const byte Renter = 0xEE;
    private static readonly TimeSpan s_timeout = PartitionHost.Timeout;

    [Fact]
    public void Disposing_while_another_thread_reads_the_kept_bytes_leaves_them_intact_for_that_read()
    {
        DisposeAStreamWithKeptBytesOnce();
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = Ring });
        using (a)
        using (b)
        {
            var stream = a.AsStream();
            var message = new byte[Message];
            Array.Fill(message, Sent);
            b.Send(message);
            Assert.Equal(1, stream.Read(new byte[1])); // the other Message - 1 bytes are kept, in an array rented from the pool

            var destination = new byte[Message - 1];
            var read = 0;
            Exception? failure = null;
            var reader = new Thread(() =>
            {
                try
                {
                    read = stream.Read(destination);
                }
                catch (Exception e)
                {
                    failure = e;
                }
            });
            reader.Start();
            var deadline = DateTime.UtcNow + s_timeout;
            while (!CopyBegan(destination) && reader.IsAlive && DateTime.UtcNow < deadline)
            {
                Thread.SpinWait(10); // the copy has not begun
            }
            stream.Dispose();
            var rented = ArrayPool<byte>.Shared.Rent(Message - 1); // round 24: the array the read was copying from
            rented.AsSpan().Fill(Renter);
            Assert.True(reader.Join(s_timeout), "the read did not return");

            Assert.Null(failure);
            Assert.Equal(Message - 1, read);
            var foreign = destination.AsSpan().IndexOfAnyExcept(Sent);
            Assert.True(foreign < 0, $"the read returned another renter's byte {(foreign < 0 ? 0 : destination[foreign]):X2} at {foreign}: Dispose returned the array it was copying from");
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// The whole path once, so the disposal below runs compiled code: its first run (JIT) takes milliseconds, longer
    /// than the copy it must overlap.
    /// </summary>
    private static void DisposeAStreamWithKeptBytesOnce()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 64 * 1024 });
        using (a)
        using (b)
        {
            var stream = a.AsStream();
            b.Send(new byte[1000]);
            Assert.Equal(1, stream.Read(new byte[1]));
            stream.Dispose();
        }
    }

    /// <summary>
    /// Whether any byte has landed yet, looked for at the start of every 64 KiB: a large memmove stores its first vector
    /// last and may copy several parts of the range at once, so no one byte is the first to land.
    /// </summary>
    private static bool CopyBegan(byte[] destination)
    {
        for (var i = 64; i < destination.Length; i += 64 * 1024)
        {
            if (Volatile.Read(ref destination[i]) != 0)
            {
                return true;
            }
        }
        return false;
    }
}
