using System.Buffers.Binary;
using System.Net.Sockets;
using IIC.Tests;

namespace IIC.Native.Tests;

public sealed class SeqPacketSocketTests : IDisposable
{
    private static readonly TimeSpan Bound = WaitFor.DefaultTimeout;
    private readonly string _directory = Directory.CreateTempSubdirectory("iic-sock-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void BindListenConnectAccept_CarriesMessagesWithBoundaries()
    {
        var path = Path.Combine(_directory, "s.sock");
        using var listener = SeqPacketSocket.Create();
        listener.Bind(path);
        listener.Listen();
        using var client = SeqPacketSocket.Create();
        client.Connect(path);
        Assert.True(listener.TryAccept(Bound, out var server));
        using (server)
        {
            client.Send("first"u8);
            client.Send("second message"u8);
            var buffer = new byte[64];

            Assert.True(server.TryReceive(buffer, null, Bound, out var n1));
            Assert.Equal("first"u8.ToArray(), buffer[..n1]);
            Assert.Equal(14, server.Receive(buffer));
            Assert.Equal("second message"u8.ToArray(), buffer[..14]);
            Assert.True(server.Descriptor.CloseOnExec);
        }
    }

    [Fact]
    public void TryAccept_NoConnection_TimesOut()
    {
        using var listener = SeqPacketSocket.Create();
        listener.Bind(Path.Combine(_directory, "idle.sock"));
        listener.Listen();

        Assert.False(listener.TryAccept(TimeSpan.Zero, out var none));
        Assert.Null(none);
        Assert.False(listener.TryAccept(TimeSpan.FromMilliseconds(20), out _));
    }

    [Fact]
    public void TryReceive_NothingSent_TimesOut_ZeroTimeoutDoesNotBlock()
    {
        var (a, b) = SeqPacketSocket.CreatePair();
        using (a)
        using (b)
        {
            Assert.False(b.TryReceive(new byte[8], null, TimeSpan.Zero, out var received));
            Assert.Equal(0, received);
            Assert.False(b.TryReceive(new byte[8], null, TimeSpan.FromMilliseconds(20), out _));
        }
    }

    [Fact]
    public void Receive_AfterPeerHangsUp_ReturnsZero()
    {
        var (a, b) = SeqPacketSocket.CreatePair();
        using (b)
        {
            a.Send("last"u8);
            a.Dispose();
            var buffer = new byte[8];

            Assert.Equal(4, b.Receive(buffer)); // queued messages are still delivered
            Assert.True(b.TryReceive(buffer, null, Bound, out var received));
            Assert.Equal(0, received);
            Assert.Equal(0, b.Receive(buffer));
        }
    }

    [Fact]
    public void Shutdown_EndsAReceiveBlockedOnAnotherThread()
    {
        var (a, b) = SeqPacketSocket.CreatePair();
        using (a)
        using (b)
        {
            var result = -1;
            var receiver = new Thread(() => result = b.Receive(new byte[8])) { IsBackground = true };
            receiver.Start();

            a.Shutdown(SocketShutdown.Both);

            Assert.True(receiver.Join(Bound), "the receive did not end");
            Assert.Equal(0, result);
        }
    }

    /// <summary>
    /// Round 25b: the call's description (for the exception's message) is made only when it fails; before, every
    /// successful shutdown formatted it. Unconnected sockets (a pair's end whose peer is gone, one never connected) are no
    /// error either: Linux gives a unix socket no ENOTCONN, which the docs used to promise.
    /// </summary>
    [Fact]
    public void Shutdown_AllocatesNothing_AndSucceedsOnSocketsNotConnected()
    {
        var (a, b) = SeqPacketSocket.CreatePair();
        using var lone = SeqPacketSocket.Create();
        using (a)
        using (b)
        {
            a.Shutdown(SocketShutdown.Receive); // warm (the first call's P/Invoke stub)
            var before = GC.GetAllocatedBytesForCurrentThread();
            a.Shutdown(SocketShutdown.Send);
            a.Shutdown(SocketShutdown.Both);
            var after = GC.GetAllocatedBytesForCurrentThread();
            Assert.Equal(before, after);

            b.Dispose();
            a.Shutdown(SocketShutdown.Both); // its peer gone
            lone.Shutdown(SocketShutdown.Both); // never connected
        }
    }

    /// <summary>A direction outside Receive, Send and Both is refused before the call (it was the kernel's EINVAL).</summary>
    [Fact]
    public void Shutdown_WithAnUnknownDirection_ThrowsArgumentOutOfRange_AndShutsNothing()
    {
        var (a, b) = SeqPacketSocket.CreatePair();
        using (a)
        using (b)
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => a.Shutdown((SocketShutdown)3));
            Assert.Equal("how", e.ParamName);
            a.Send("still open"u8);
            Assert.Equal(10, b.Receive(new byte[16]));
        }
    }

    [Fact]
    public void ShutdownReadWrite_EndsABlockedReceive_HangsUpThePeerAfterItsQueue_AndRefusesSends()
    {
        var (a, b) = SeqPacketSocket.CreatePair();
        using (a)
        using (b)
        {
            b.Send("queued"u8); // already in a's queue: still read after the shutdown
            var buffer = new byte[8];
            Assert.Equal(6, a.Receive(buffer));
            var result = -1;
            var receiver = new Thread(() => result = a.Receive(buffer)) { IsBackground = true };
            receiver.Start();
            a.Send("last"u8);
            Assert.True(b.TryReceive(buffer, null, Bound, out var lastLength));
            Assert.Equal(4, lastLength);

            a.ShutdownReadWrite();

            Assert.True(receiver.Join(Bound), "the receive blocked on another thread did not end");
            Assert.Equal(0, result); // this side's read direction is shut: the blocked receive reads the end
            Assert.True(b.TryReceive(buffer, null, Bound, out var hangUp));
            Assert.Equal(0, hangUp); // the peer reads the hang-up
            var e = Assert.Throws<NativeException>(() => a.Send("x"u8)); // and the write direction is shut too
            Assert.Equal("EPIPE", e.ErrnoName);
        }
    }

    [Fact]
    public void ShutdownReadWrite_OnADisposedSocket_ThrowsObjectDisposed()
    {
        var (a, b) = SeqPacketSocket.CreatePair();
        b.Dispose();
        a.Dispose();
        Assert.Throws<ObjectDisposedException>(a.ShutdownReadWrite);
    }

    [Fact]
    public void Send_ToHungUpPeer_ThrowsEpipe_WithoutSigpipe()
    {
        var (a, b) = SeqPacketSocket.CreatePair();
        using (a)
        {
            b.Dispose();
            var e = Assert.Throws<NativeException>(() => a.Send("x"u8));
            Assert.Equal("EPIPE", e.ErrnoName);
            Assert.StartsWith("sendmsg(", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Send_EmptyMessage_ThrowsArgumentException()
    {
        var (a, b) = SeqPacketSocket.CreatePair();
        using (a)
        using (b)
        {
            Assert.Throws<ArgumentException>(() => a.Send([]));
            Assert.Throws<ArgumentException>(() => b.Receive([]));
            Assert.Throws<ArgumentOutOfRangeException>(() => a.Send("x"u8, new FileDescriptor[SeqPacketSocket.MaxDescriptorsPerMessage + 1]));
        }
    }

    [Fact]
    public void SeveralDescriptorsInOneMessage_ArriveAsNewOwnedCloseOnExecCopies()
    {
        var (a, b) = SeqPacketSocket.CreatePair();
        using var first = SizedMemfd("iic-multi-1", 4096);
        using var second = SizedMemfd("iic-multi-2", 8192);
        using var third = new EventFd(initialValue: 3);
        using (a)
        using (b)
        {
            a.Send("three"u8, first, second, third.Descriptor);
            var received = new List<FileDescriptor>();
            var buffer = new byte[16];

            Assert.True(b.TryReceive(buffer, received, Bound, out var length));

            Assert.Equal(5, length);
            Assert.Equal(3, received.Count);
            try
            {
                Assert.All(received, fd => Assert.True(fd.CloseOnExec));
                var numbers = received.Select(fd => fd.Value).Concat([first.Value, second.Value, third.Descriptor.Value]);
                Assert.Equal(6, numbers.Distinct().Count());
                Assert.Equal(4096, received[0].GetStatus().Size);
                Assert.Equal(8192, received[1].GetStatus().Size);
                using var counter = EventFd.FromDescriptor(received[2]);
                Assert.Equal(3UL, counter.Read());
            }
            finally
            {
                received.ForEach(fd => fd.Dispose());
            }
        }
    }

    [Fact]
    public void Descriptors_ReachAChildThatWritesThroughTheMapping()
    {
        // Covered end to end by MemoryFileTests.Child_ReceivesSealedMemfdOverScmRights_SeesParentData_AndWritesBack
        // (memfd and eventfd in one message); here: the sender's copies stay usable after sending.
        var (a, b) = SeqPacketSocket.CreatePair();
        using var file = SizedMemfd("iic-sender-keeps", 4096);
        using (a)
        using (b)
        {
            a.Send("m"u8, file);
            var received = new List<FileDescriptor>();
            Assert.Equal(1, b.Receive(new byte[4], received));
            using var copy = Assert.Single(received);
            using var mine = MappedMemory.Map(file, 4096);
            using var theirs = MappedMemory.Map(copy, 4096);
            mine.WriteReleaseInt32(0, 77);
            Assert.Equal(77, theirs.ReadAcquireInt32(0));
        }
    }

    [Fact]
    public void TruncatedMessage_Throws_AndClosesTheDescriptorsItCarried()
    {
        var name = ProcFs.UniqueName("trunc");
        var (a, b) = SeqPacketSocket.CreatePair();
        using var file = SizedMemfd(name, 4096);
        using (a)
        using (b)
        {
            a.Send(new byte[100], file);
            a.Send("next"u8);
            var received = new List<FileDescriptor>();

            var e = Assert.Throws<IOException>(() => b.Receive(new byte[10], received));

            Assert.Contains("100-byte message did not fit the 10-byte buffer (MSG_TRUNC)", e.Message, StringComparison.Ordinal);
            Assert.Empty(received);
            Assert.Equal(1, ProcFs.OpenDescriptorsOf(name)); // only the sender's own
            var buffer = new byte[10];
            Assert.Equal(4, b.Receive(buffer)); // the stream of messages goes on
        }
    }

    [Fact]
    public void TooManyDescriptorsForTheControlBuffer_Throws_AndClosesThem()
    {
        var name = ProcFs.UniqueName("ctrunc");
        var (a, b) = SeqPacketSocket.CreatePair();
        using var f1 = SizedMemfd(name, 4096);
        using var f2 = SizedMemfd(name, 4096);
        using var f3 = SizedMemfd(name, 4096);
        using (a)
        using (b)
        {
            a.Send("fds"u8, f1, f2, f3);
            var received = new List<FileDescriptor>();

            var e = Assert.Throws<IOException>(() => b.ReceiveCore(new byte[16], received, 0, maxDescriptors: 1));

            Assert.Contains("MSG_CTRUNC", e.Message, StringComparison.Ordinal);
            Assert.Empty(received);
            Assert.Equal(3, ProcFs.OpenDescriptorsOf(name));
        }
    }

    [Fact]
    public void UnexpectedDescriptors_Throw_AndAreClosed()
    {
        var name = ProcFs.UniqueName("unexpected");
        var (a, b) = SeqPacketSocket.CreatePair();
        using var file = SizedMemfd(name, 4096);
        using (a)
        using (b)
        {
            a.Send("x"u8, file);

            var e = Assert.Throws<IOException>(() => b.Receive(new byte[4]));

            Assert.Contains("carried 1 descriptor(s) but the caller passed no collection", e.Message, StringComparison.Ordinal);
            Assert.Equal(1, ProcFs.OpenDescriptorsOf(name));
        }
    }

    [Fact]
    public void Send_DisposedDescriptor_ThrowsObjectDisposed_AndReleasesTheOthers()
    {
        var (a, b) = SeqPacketSocket.CreatePair();
        using var open = SizedMemfd("iic-open", 4096);
        var closed = SizedMemfd("iic-closed", 4096);
        closed.Dispose();
        using (a)
        using (b)
        {
            Assert.Throws<ObjectDisposedException>(() => a.Send("x"u8, open, closed));
            Assert.False(b.TryReceive(new byte[4], null, TimeSpan.Zero, out _)); // nothing was sent
        }
        open.Dispose();
        Assert.True(open.IsClosed); // the reference taken for the send was released
    }

    [Fact]
    public void SendAndReceive_SteadyState_DoNotAllocate()
    {
        var (a, b) = SeqPacketSocket.CreatePair();
        using var file = SizedMemfd("iic-no-alloc", 4096);
        using (a)
        using (b)
        {
            var buffer = new byte[64];
            var message = new byte[32];
            for (var i = 0; i < 10; i++)
            {
                a.Send(message);
                b.Receive(buffer);
                b.TryReceive(buffer, null, TimeSpan.Zero, out _);
            }

            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 100; i++)
            {
                a.Send(message);
                b.Receive(buffer);
                b.TryReceive(buffer, null, TimeSpan.Zero, out _);
            }
            var afterPlain = GC.GetAllocatedBytesForCurrentThread();
            a.Send(message, file); // attaching a descriptor does not allocate on the sending side either
            var afterSendWithDescriptor = GC.GetAllocatedBytesForCurrentThread();

            Assert.Equal(before, afterPlain);
            Assert.Equal(afterPlain, afterSendWithDescriptor);
            var received = new List<FileDescriptor>();
            Assert.Equal(32, b.Receive(buffer, received));
            Assert.Single(received).Dispose();
        }
    }

    [Fact]
    public void Bind_PathTooLong_ThrowsArgumentExceptionNamingTheLimit()
    {
        using var socket = SeqPacketSocket.Create();
        var path = "/tmp/" + new string('p', SeqPacketSocket.MaxPathLength - 4);

        var e = Assert.Throws<ArgumentException>(() => socket.Bind(path));

        Assert.Contains("108", e.Message, StringComparison.Ordinal);
        Assert.Contains("107", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => socket.Connect(path));
        Assert.Throws<ArgumentException>(() => socket.Bind("bad\0path"));
        Assert.Throws<ArgumentException>(() => socket.Bind(""));
    }

    [Fact]
    public void Bind_PathOfExactlyMaxLength_Works()
    {
        var directory = _directory;
        var name = new string('n', SeqPacketSocket.MaxPathLength - directory.Length - 1);
        var path = Path.Combine(directory, name);
        Assert.Equal(SeqPacketSocket.MaxPathLength, path.Length);
        using var listener = SeqPacketSocket.Create();
        listener.Bind(path);
        listener.Listen();
        using var client = SeqPacketSocket.Create();
        client.Connect(path);
        Assert.True(listener.TryAccept(Bound, out var server));
        server.Dispose();
    }

    [Fact]
    public void Connect_NothingThere_ThrowsEnoent_AndBindTwiceThrowsEaddrinuse()
    {
        using var client = SeqPacketSocket.Create();
        var missing = Path.Combine(_directory, "missing.sock");
        var e = Assert.Throws<NativeException>(() => client.Connect(missing));
        Assert.Equal("ENOENT", e.ErrnoName);
        Assert.Contains(missing, e.Message, StringComparison.Ordinal);

        var path = Path.Combine(_directory, "taken.sock");
        using var first = SeqPacketSocket.Create();
        first.Bind(path);
        using var second = SeqPacketSocket.Create();
        Assert.Equal("EADDRINUSE", Assert.Throws<NativeException>(() => second.Bind(path)).ErrnoName);
    }

    [Fact]
    public void PeerCredentials_OfSocketPair_AreOurs()
    {
        var (a, b) = SeqPacketSocket.CreatePair();
        using (a)
        using (b)
        {
            var peer = a.GetPeerCredentials();
            Assert.Equal(Credentials.Current, peer);
            Assert.Equal(Environment.ProcessId, peer.Pid);
        }
    }

    [Fact]
    public void PeerCredentials_OfChild_ReportItsPidAndUid()
    {
        using var child = ChildProcess.Start("peer-credentials");
        var peer = child.Control.GetPeerCredentials();
        var message = new byte[16];
        Assert.Equal(12, child.Receive(message));
        child.Send("bye"u8);

        Assert.Equal(child.Id, peer.Pid);
        Assert.NotEqual(Environment.ProcessId, peer.Pid);
        Assert.Equal(Credentials.EffectiveUserId, peer.Uid);
        Assert.Equal(Credentials.EffectiveGroupId, peer.Gid);
        Assert.Equal(peer, new PeerCredentials(
            BinaryPrimitives.ReadInt32LittleEndian(message),
            BinaryPrimitives.ReadUInt32LittleEndian(message.AsSpan(4)),
            BinaryPrimitives.ReadUInt32LittleEndian(message.AsSpan(8))));
        child.AssertExit(0);
    }

    [Fact]
    public void PeerCredentials_Unconnected_ThrowsInvalidOperation()
    {
        using var socket = SeqPacketSocket.Create();
        var e = Assert.Throws<InvalidOperationException>(() => socket.GetPeerCredentials());
        Assert.Contains("has no peer", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Disposed_ThrowsObjectDisposed()
    {
        var socket = SeqPacketSocket.Create();
        socket.Dispose();
        Assert.Throws<ObjectDisposedException>(() => socket.Send("x"u8));
        Assert.Throws<ObjectDisposedException>(() => socket.Receive(new byte[1]));
        Assert.Throws<ObjectDisposedException>(() => socket.GetPeerCredentials());
    }

    private static FileDescriptor SizedMemfd(string name, long size)
    {
        var file = MemoryFile.Create(name);
        MemoryFile.SetSize(file, size);
        return file;
    }
}
