using IIC.Hardware;
using IIC.Tests;

namespace IIC.Grpc.Tests;

/// <summary>
/// One hypervisor in the test process and one test server process serving Tester both ways. The hypervisor lives here
/// so that killing a server process kills only the peer, as a crash would.
/// </summary>
public sealed class TesterFixture : IDisposable
{
    public const int MaxMessage = 16 * 1024 * 1024;

    private readonly Hypervisor _hypervisor;
    private readonly ServerProcess _server;

    public TesterFixture()
    {
        HypervisorName = $"grpc-tests-{Environment.ProcessId}";
        SocketDirectory = Directory.CreateTempSubdirectory("iic-grpc-tests-").FullName;
        _hypervisor = Hypervisor.Start(HypervisorName, new HypervisorOptions { SocketDirectory = SocketDirectory });
        try
        {
            _server = TesterServerProcess.Start(HypervisorName, SocketDirectory, "tester");
        }
        catch
        {
            _hypervisor.Dispose();
            throw;
        }
    }

    public string HypervisorName { get; }

    public string SocketDirectory { get; }

    /// <summary>
    /// A channel to the shared server over a path: <c>native</c>, <c>native-inline</c> (the native path with
    /// <c>InlineCompletions</c>) or <c>http2-tcp</c>. The application code is the same; only the address differs.
    /// </summary>
    public GrpcServiceChannel Open(string path, int? maxReceive = MaxMessage) => Open(_server, path, maxReceive);

    internal GrpcServiceChannel Open(ServerProcess server, string path, int? maxReceive = MaxMessage)
        => Connect(AddressOf(server, path), maxReceive, inlineCompletions: path == "native-inline");

    /// <summary>The shared server's address over a path (<c>native</c> or <c>http2-tcp</c>), for code that makes its own channel.</summary>
    internal string AddressOf(string path) => AddressOf(_server, path);

    private static string AddressOf(ServerProcess server, string path) => path switch
    {
        "native" or "native-inline" => server.Address("iic://"),
        "http2-tcp" => server.Address("http://"),
        _ => throw new ArgumentOutOfRangeException(nameof(path), path, "native, native-inline or http2-tcp"),
    };

    /// <summary>A second server process (to kill) on this hypervisor, offering <paramref name="service"/>.</summary>
    internal ServerProcess StartServer(string service, bool inlineHandlers = false) => TesterServerProcess.Start(HypervisorName, SocketDirectory, service, inlineHandlers);

    /// <summary>A second server process serving StatelessTesterService natively with inline handlers (the server's synchronous unary path).</summary>
    internal ServerProcess StartStatelessServer(string service) => TesterServerProcess.Start(HypervisorName, SocketDirectory, service, inlineHandlers: true, stateless: true);

    /// <summary>A channel to <paramref name="address"/>: the same code for both paths, only the address differs.</summary>
    public GrpcServiceChannel Connect(string address, int? maxReceive = MaxMessage, bool inlineCompletions = false)
        => GrpcServiceChannel.ForAddress(address, new GrpcServiceChannelOptions
        {
            Native = { Transport = { HypervisorName = HypervisorName, SocketDirectory = SocketDirectory }, InlineCompletions = inlineCompletions },
            MaxReceiveMessageSize = maxReceive,
        });

    public void Dispose()
    {
        _server.Dispose();
        _hypervisor.Dispose();
        try
        {
            Directory.Delete(SocketDirectory, recursive: true);
        }
        catch (IOException)
        {
            // a socket still bound: the temp directory is cleaned eventually
        }
    }
}

[CollectionDefinition(Name)]
public sealed class TesterGroup : ICollectionFixture<TesterFixture>
{
    public const string Name = "tester";
}
