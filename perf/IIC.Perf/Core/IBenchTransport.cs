namespace IIC.Perf.Core;

/// <summary>
/// A transport under test. To add one: implement this in one file under Transports/ and list it in
/// <c>Transports/TransportRegistry.cs</c>. The parent calls <see cref="Open"/> and then <see cref="ITransportSession.ConnectClient"/>;
/// the child process (this same program, started as <c>IIC.Perf __child ...</c>) calls <see cref="Join"/> with the
/// arguments the session gave. The harness owns the measurement loops, the message format and its verification,
/// the timing and the reports: a transport only moves bytes.
/// </summary>
internal interface IBenchTransport
{
    /// <summary>The name on the command line, in the table and in the JSON (e.g. <c>raw-shm</c>, <c>iic</c>).</summary>
    string Name { get; }

    /// <summary>One line for <c>--help</c>: what it is.</summary>
    string Description { get; }

    /// <summary>
    /// The wait modes it can run (<see cref="WaitModes"/>). A transport with one mode always runs in it whatever
    /// <c>--modes</c> says; one with several runs those of them that were asked for.
    /// </summary>
    IReadOnlyList<string> Modes { get; }

    /// <summary>How its receiver can take messages; <see cref="ReceiveApi.Poll"/> needs the endpoint to be an <see cref="IInPlaceReceiver"/>.</summary>
    IReadOnlyList<ReceiveApi> ReceiveApis { get; }

    /// <summary>Null when it can run here; otherwise why not, shown in the table in place of numbers.</summary>
    string? Unavailable();

    /// <summary>Parent: prepares one measurement (creates what both ends share).</summary>
    ITransportSession Open(LinkOptions options, RunGuard guard);

    /// <summary>Child: joins the session the parent opened, from <see cref="ChildLaunch.Arguments"/>.</summary>
    IMessageEndpoint Join(LinkRole role, LinkOptions options, IReadOnlyList<string> arguments, RunGuard guard);
}
