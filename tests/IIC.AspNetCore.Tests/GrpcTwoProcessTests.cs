using Microsoft.Extensions.Configuration;

namespace IIC.AspNetCore.Tests;

/// <summary>
/// A stock gRPC service (samples/Greeter.Server: Grpc.AspNetCore, greet.proto compiled by Grpc.Tools) in a second
/// process, called by Grpc.Net.Client from this one. The two tests run the same <see cref="GreeterConversation"/>;
/// only configuration differs.
/// </summary>
public class GrpcTwoProcessTests
{
    [Fact]
    public async Task Unary_server_streaming_and_bidi_calls_work_over_IICFast_between_two_processes()
    {
        var hypervisor = TestNames.Hypervisor("grpc");
        var directory = TestNames.SocketDirectory();
        try
        {
            // The server starts an embedded hypervisor and listens on iic://greeter only: no TCP port at all.
            using var server = GreeterServerProcess.Start(
                "--Iic:HypervisorName=" + hypervisor, "--Iic:SocketDirectory=" + directory, "--Iic:StartHypervisor=true",
                "--Listen:0=iic://greeter", "--Listen:1=");
            Assert.Equal("iic://greeter", Assert.Single(server.Addresses)); // "Now listening on" and IServerAddressesFeature
            await GreeterConversation.RunAsync(Configuration(new()
            {
                ["Services:greeter"] = "iic://greeter",
                ["Iic:HypervisorName"] = hypervisor,
                ["Iic:SocketDirectory"] = directory,
            }));
        }
        finally
        {
            TestNames.DeleteDirectory(directory);
        }
    }

    [Fact]
    public async Task The_same_calls_work_over_TCP_loopback_with_only_configuration_changed()
    {
        // The server listens on an ordinary TCP port only (no IICFast endpoint, so no hypervisor).
        using var server = GreeterServerProcess.Start("--Listen:0=http://127.0.0.1:0", "--Listen:1=");
        var address = Assert.Single(server.Addresses);
        Assert.StartsWith("http://127.0.0.1:", address, StringComparison.Ordinal);
        await GreeterConversation.RunAsync(Configuration(new()
        {
            ["Services:greeter"] = address,
        }));
    }

    private static IConfiguration Configuration(Dictionary<string, string?> values) => new ConfigurationBuilder().AddInMemoryCollection(values).Build();
}
