using System.Net.Sockets;
using IIC.Hardware;

namespace IIC.AspNetCore.Tests;

/// <summary>
/// IicPartitionHost.GetPartitionAsync (round 19): the partition's attach awaited without a thread, one attach per
/// hypervisor shared by every caller meanwhile, each caller's token ending only its own wait, a failed attach failing its
/// waiters and the next call trying again, and a host disposed during the attach ending the waits ObjectDisposed. The
/// "hypervisor" that does not answer is a bare seqpacket socket at the hypervisor's path that accepts and says nothing
/// (as a stopped or overloaded hypervisor), closed when the test says; the one that answers is a real one. Before, only
/// the blocking GetPartition existed, and every connect that needed the partition held a pool thread on it meanwhile.
/// </summary>
public sealed class PartitionHostAsyncTests : IDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);
    private readonly string _name = "hv-" + Guid.NewGuid().ToString("N")[..12];
    private readonly string _directory = Directory.CreateTempSubdirectory("iic-hv-").FullName;

    private string SocketPath => Path.Combine(_directory, _name + ".sock");

    private IicPartitionHost NewHost() => new(new IicTransportOptions { HypervisorName = _name, SocketDirectory = _directory });

    /// <summary>A socket at the hypervisor's path that accepts connections (the kernel's backlog) and never answers.</summary>
    private Socket SilentHypervisor()
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Seqpacket, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(SocketPath));
        socket.Listen(16);
        return socket;
    }

    [Fact]
    public async Task Callers_during_a_slow_attach_return_at_once_share_one_attach_and_a_token_ends_only_its_own_wait()
    {
        using var host = NewHost();
        var silent = SilentHypervisor();
        var waits = new List<Task<Partition>>();
        using var cancellation = new CancellationTokenSource();
        for (var i = 0; i < 16; i++)
        {
            waits.Add(host.GetPartitionAsync().AsTask()); // returns while the hypervisor does not answer
        }
        var cancelled = host.GetPartitionAsync(cancellationToken: cancellation.Token).AsTask();
        Assert.All(waits, wait => Assert.False(wait.IsCompleted));
        cancellation.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(s_timeout));
        Assert.All(waits, wait => Assert.False(wait.IsCompleted)); // the shared attach goes on for the others
        using (var accepted = await silent.AcceptAsync().WaitAsync(s_timeout))
        {
            // One attach: one connection reached the hypervisor's socket for all 17 callers.
            silent.Blocking = false;
            Assert.Throws<SocketException>(() => silent.Accept());
        } // the "hypervisor" hangs up: the attach fails, for every waiter
        foreach (var wait in waits)
        {
            await Assert.ThrowsAsync<HypervisorException>(() => wait.WaitAsync(s_timeout));
        }
        silent.Dispose();
        File.Delete(SocketPath);

        // The next call tries again: a real hypervisor now answers.
        using var hypervisor = Hypervisor.Start(_name, new HypervisorOptions { SocketDirectory = _directory });
        var partitions = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => host.GetPartitionAsync().AsTask())).WaitAsync(s_timeout);
        Assert.All(partitions, partition => Assert.Same(partitions[0], partition));
        Assert.True(partitions[0].IsHypervisorConnected);
        Assert.Same(partitions[0], host.GetPartition());
        Assert.True(host.GetPartitionAsync().AsTask().IsCompletedSuccessfully); // attached: no wait at all
    }

    [Fact]
    public async Task A_host_disposed_during_the_attach_ends_the_waits_ObjectDisposed()
    {
        var host = NewHost();
        using var silent = SilentHypervisor();
        var wait = host.GetPartitionAsync().AsTask();
        using var accepted = await silent.AcceptAsync().WaitAsync(s_timeout); // the attach is under way
        Assert.False(wait.IsCompleted);
        host.Dispose();
        accepted.Shutdown(SocketShutdown.Both); // its answer never comes: the attach fails after the host's end
        await Assert.ThrowsAsync<ObjectDisposedException>(() => wait.WaitAsync(s_timeout));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => host.GetPartitionAsync().AsTask());
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // best effort: it is in the temporary directory
        }
    }
}
