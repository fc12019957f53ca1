using System.Globalization;
using IIC.Hardware;
using IIC.Tests;
using Xunit.Abstractions;

namespace IIC.Reliability.Tests;

/// <summary>
/// A service's listen backlog (Partition.Listen's backlog, docs/control-protocol.md §5 "listen backlog"): a listener
/// whose reader drains its control socket but whose application does not accept holds at most its backlog of granted
/// connections; further connectors wait, and are granted as it accepts, or refused NotAccepting once it accepted nothing
/// for AcceptStallTimeout. Credit messages are validated. Real listener and connector processes, a real hypervisor.
/// </summary>
[Collection(nameof(SerialReliabilityTests))]
public sealed class BacklogTests(ITestOutputHelper output)
{
    private const string Service = "bl-svc";
    private static readonly TimeSpan s_long = TimeSpan.FromSeconds(60);

    [Fact]
    public void A_listener_that_never_accepts_holds_its_backlog_while_connectors_wait_then_refuses_them_after_the_stall_timeout()
    {
        const int Backlog = 8, Connects = 20;
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start(new HypervisorOptions { AcceptStallTimeout = TimeSpan.FromSeconds(2), OutboundStallTimeout = TimeSpan.FromSeconds(120) });
        using var listener = ChildProcess.Start("aq-backlog-listener", scope.Name, scope.Directory, "never", Service, Backlog.ToString(CultureInfo.InvariantCulture));
        Assert.Equal("listening", listener.ReadLine(s_long));
        using var connectors = ChildProcess.Start("aq-connect", scope.Name, scope.Directory, "connector", Service,
            Connects.ToString(CultureInfo.InvariantCulture), "1", "60");
        Assert.Equal("attached", connectors.ReadLine(s_long));
        // Every connect reached the hypervisor: the backlog was granted, the rest wait (the listener reads its socket all along).
        WaitFor.Condition(() => hypervisor.GrantCount == Backlog && hypervisor.PendingConnectCount == Connects - Backlog,
            $"{Backlog} grants and {Connects - Backlog} waiting connects (saw {hypervisor.GrantCount} and {hypervisor.PendingConnectCount})", s_long, connectors.ToString);

        // Their own timeout is 60 s: an answer well before it is the hypervisor's verdict on the listener.
        var done = connectors.ReadLine(TimeSpan.FromSeconds(40));
        var error = connectors.ReadLine(s_long);
        output.WriteLine($"{done}; {error}");
        Assert.Equal($"done {Backlog} {Connects - Backlog}", done);
        Assert.StartsWith("error NotAccepting ", error, StringComparison.Ordinal);
        Assert.Contains("'never'", error, StringComparison.Ordinal);
        Assert.Contains("accepted nothing", error, StringComparison.Ordinal);
        Assert.Contains($"listen backlog of {Backlog} full", error, StringComparison.Ordinal);
        Assert.Equal("end", connectors.ReadLine(s_long));
        Assert.Equal(0, hypervisor.PendingConnectCount);
        Assert.Equal(Backlog, hypervisor.GrantCount);

        // Once the application accepts, the backlog has room again: a new connect is granted.
        listener.WriteLine($"accept {Backlog}");
        Assert.Equal($"accepted {Backlog}", listener.ReadLine(s_long));
        using var late = scope.Attach("late");
        using var connection = late.Connect(Service, DescriptorRing.MinCapacity, s_long);
        Assert.Equal(Backlog + 1, hypervisor.GrantCount);
    }

    [Fact]
    public void Connectors_waiting_on_a_full_backlog_connect_as_the_application_accepts_and_a_disposed_listener_releases_what_it_queued()
    {
        const int Backlog = 4, Connects = 12;
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start(new HypervisorOptions { AcceptStallTimeout = TimeSpan.FromSeconds(120), OutboundStallTimeout = TimeSpan.FromSeconds(120) });
        using var listener = ChildProcess.Start("aq-backlog-listener", scope.Name, scope.Directory, "slow", Service, Backlog.ToString(CultureInfo.InvariantCulture));
        Assert.Equal("listening", listener.ReadLine(s_long));
        using (var connectors = ChildProcess.Start("aq-connect", scope.Name, scope.Directory, "connector", Service,
            Connects.ToString(CultureInfo.InvariantCulture), "1", "60"))
        {
            Assert.Equal("attached", connectors.ReadLine(s_long));
            WaitFor.Condition(() => hypervisor.GrantCount == Backlog && hypervisor.PendingConnectCount == Connects - Backlog,
                $"{Backlog} grants and {Connects - Backlog} waiting connects (saw {hypervisor.GrantCount} and {hypervisor.PendingConnectCount})", s_long, connectors.ToString);
            // A connect without a timeout is refused at once while the backlog is full, saying why.
            using var impatient = scope.Attach("impatient");
            var busy = Assert.Throws<HypervisorException>(() => impatient.Connect(Service, DescriptorRing.MinCapacity, TimeSpan.Zero));
            Assert.Equal(ControlError.NotAccepting, busy.Error);
            Assert.Contains("is busy", busy.Message, StringComparison.Ordinal);
            Assert.Contains($"listen backlog {Backlog}", busy.Message, StringComparison.Ordinal);

            listener.WriteLine($"accept {Connects}");
            Assert.Equal($"accepted {Connects}", listener.ReadLine(s_long));
            Assert.Equal($"done {Connects} 0", connectors.ReadLine(s_long));
            Assert.Equal("end", connectors.ReadLine(s_long));
            Assert.Equal(0, hypervisor.PendingConnectCount);
        } // the connectors are killed: the hypervisor detaches them and frees every grant they shared (the listener's too)

        // The detach is the hypervisor's own turn, after the kill returns: wait for it, or the baseline counts grants
        // that are about to go (the partition count drops before the grants do, so both are awaited).
        WaitFor.Condition(() => hypervisor.PartitionCount == 1 && hypervisor.GrantCount == 0,
            $"the killed connectors to be detached with their {Connects} grants (saw {hypervisor.PartitionCount} partitions and {hypervisor.GrantCount} grants)", s_long);

        // Connections queued and never accepted are released when the listener is disposed: once the connector
        // releases its side as well, the hypervisor frees every one of them.
        var baseline = hypervisor.GrantCount;
        using var connector = scope.Attach("queued");
        var queued = Enumerable.Range(0, Backlog).Select(_ => connector.Connect(Service, DescriptorRing.MinCapacity, s_long)).ToList();
        Assert.Equal(baseline + Backlog, hypervisor.GrantCount);
        listener.WriteLine("dispose");
        Assert.Equal("disposed", listener.ReadLine(s_long));
        queued.ForEach(c => c.Dispose());
        WaitFor.Condition(() => hypervisor.GrantCount == baseline, $"the {Backlog} queued grants to be freed (saw {hypervisor.GrantCount}, baseline {baseline})", s_long);
    }

    [Fact]
    public void Credit_messages_are_validated_and_a_lying_listener_hurts_only_its_own_service()
    {
        using var scope = new HypervisorScope();
        using var hypervisor = scope.Start(new HypervisorOptions { AcceptStallTimeout = TimeSpan.FromSeconds(120) });
        using var honest = scope.Attach("honest");
        using var honestListener = honest.Listen("honest-svc", backlog: 1);
        using var connector = scope.Attach("connector");
        using var first = connector.Connect("honest-svc", DescriptorRing.MinCapacity, s_long);
        Assert.Equal(ControlError.NotAccepting, Assert.Throws<HypervisorException>(() => connector.Connect("honest-svc", DescriptorRing.MinCapacity, TimeSpan.Zero)).Error);

        // Another partition crediting a service it does not offer changes nothing: the backlog stays full.
        using var liar = RawControlClient.Connect(scope.Name, scope.Directory);
        liar.Attach("liar");
        liar.Socket.Send(RawControlClient.Message(ControlMessageType.Accepted, 0, "honest-svc", 1000u));
        // A listener over-crediting its own service only lets its own backlog overflow (clamped at zero, no crash):
        // with a backlog of 1 and nothing accepted, its lie admits a second connection.
        liar.Socket.Send(RawControlClient.Message(ControlMessageType.Listen, 2, "liar-svc", 0u, 1u));
        Assert.Equal(ControlMessageType.Listening, liar.Receive(s_long)?.Type);
        using (var a = connector.Connect("liar-svc", DescriptorRing.MinCapacity, s_long))
        {
            liar.Socket.Send(RawControlClient.Message(ControlMessageType.Accepted, 0, "liar-svc", uint.MaxValue));
            using var b = connector.Connect("liar-svc", DescriptorRing.MinCapacity, s_long); // waits for the credit if it overtook it
            Assert.Equal(ControlError.NotAccepting, Assert.Throws<HypervisorException>(() => connector.Connect("honest-svc", DescriptorRing.MinCapacity, TimeSpan.Zero)).Error);
        }

        // A credit of zero, or with trailing bytes, is malformed: the sender alone is disconnected.
        liar.Socket.Send(RawControlClient.Message(ControlMessageType.Accepted, 0, "liar-svc", 0u));
        RawControlClient.Reply? reply;
        while ((reply = liar.Receive(s_long)) is { Type: not ControlMessageType.Error and not 0 })
        {
        }
        Assert.Equal(ControlError.BadMessage, reply?.Error);
        output.WriteLine(reply?.Reason);

        // The honest listener is unharmed: once it accepts, its backlog has room again.
        honestListener.Accept(s_long).Dispose();
        using var second = connector.Connect("honest-svc", DescriptorRing.MinCapacity, s_long);
    }
}
