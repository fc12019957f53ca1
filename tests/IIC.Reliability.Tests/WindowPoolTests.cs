using System.Globalization;
using IIC.Hardware;
using IIC.Tests;

namespace IIC.Reliability.Tests;

/// <summary>
/// Issue 17's connect path: the hypervisor grants windows it made ahead (WindowPool). Each must still be a fresh file
/// that no other grant ever had: nothing one connection wrote can reach the next (docs/guarantees.md).
/// </summary>
[Collection(nameof(SerialReliabilityTests))]
public sealed class WindowPoolTests
{
    private const int Connections = 12;

    [Fact]
    public void Every_granted_window_is_a_fresh_zeroed_file_never_granted_before_even_from_the_pool()
    {
        using var host = PartitionHost.Start();
        var service = PartitionHost.NewService();
        using var listener = host.Partition.Listen(service);
        var files = new HashSet<string>();
        var pooled = 0;
        for (var i = 0; i < Connections; i++)
        {
            using var connection = host.Partition.Connect(service, WindowOptions.DefaultRingCapacity, PartitionHost.Timeout);
            using var accepted = listener.Accept(PartitionHost.Timeout);
            var identity = FileIdentity(connection.Window.File);
            Assert.Equal(identity, FileIdentity(accepted.Window.File)); // both sides got the one file
            Assert.True(files.Add(identity), $"connection {i} was granted a file an earlier connection had ({identity})");
            if (MemfdName(connection.Window.File).Contains("memfd:iic-window", StringComparison.Ordinal))
            {
                pooled++;
            }
            var memory = connection.Window.Memory;
            var header = SharedWindow.HeaderSize + 4096; // the header and interrupt blocks the hypervisor wrote
            for (long offset = header; offset < memory.Length; offset += 1 << 16)
            {
                var chunk = memory.GetSpan(offset, (int)Math.Min(1 << 16, memory.Length - offset));
                Assert.True(chunk.IndexOfAnyExcept((byte)0) < 0, $"connection {i}: the window's rings are not zero at offset {offset} (bytes from another connection?)");
                chunk.Fill(0xAB); // what a peer could leave behind: no later grant may see it
            }
        }
        Assert.True(pooled > 0, "no grant came from the hypervisor's window pool: the test did not exercise it");
    }

    /// <summary>dev:inode of the file behind <paramref name="file"/>, from /proc/self/fdinfo (memfd inodes are never reused while open).</summary>
    private static string FileIdentity(IIC.Native.FileDescriptor file)
    {
        var fdinfo = File.ReadAllLines("/proc/self/fdinfo/" + file.Value.ToString(CultureInfo.InvariantCulture));
        return string.Join(" ", fdinfo.Where(l => l.StartsWith("ino:", StringComparison.Ordinal) || l.StartsWith("mnt_id:", StringComparison.Ordinal)));
    }

    private static string MemfdName(IIC.Native.FileDescriptor file)
        => new FileInfo("/proc/self/fd/" + file.Value.ToString(CultureInfo.InvariantCulture)).LinkTarget ?? "";
}
