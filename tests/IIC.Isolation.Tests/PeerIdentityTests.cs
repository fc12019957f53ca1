using IIC.Native;

namespace IIC.Isolation.Tests;

/// <summary>The peer-identity primitives on their own (one process, a socket pair): what the cross-namespace tests build on.</summary>
public sealed class PeerIdentityTests
{
    [Fact]
    public void PeerProcess_takes_the_peer_from_the_socket_itself_on_this_kernel()
    {
        var (left, right) = SeqPacketSocket.CreatePair();
        using (left)
        using (right)
        {
            var credentials = left.GetPeerCredentials();
            using var process = PeerProcess.Open(left, credentials, out var source);
            Assert.Equal(PeerProcess.Source.SocketPidfd, source); // Linux 6.5+ has SO_PEERPIDFD; this machine runs 6.18
            Assert.Equal(Environment.ProcessId, process.ProcessId);
            Assert.False(process.HasExited);
        }
    }

    [Fact]
    public void A_socket_that_never_had_a_peer_is_still_an_error_not_an_invisible_pid()
    {
        using var socket = SeqPacketSocket.Create();
        var error = Assert.Throws<InvalidOperationException>(() => socket.GetPeerCredentials());
        Assert.Contains("has no peer", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_overflow_uid_is_never_the_same_user_even_as_itself()
    {
        var overflow = UserNamespace.OverflowUid;
        Assert.Equal(uint.Parse(File.ReadAllText("/proc/sys/kernel/overflowuid").Trim(), System.Globalization.CultureInfo.InvariantCulture), overflow);
        Assert.False(UserNamespace.IsSameUser(overflow, overflow));
        Assert.True(UserNamespace.IsSameUser(1000, 1000));
        Assert.False(UserNamespace.IsSameUser(1000, 0));
    }
}
