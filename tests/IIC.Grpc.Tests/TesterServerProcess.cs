using IIC.Tests;

namespace IIC.Grpc.Tests;

/// <summary>
/// tests/IIC.Grpc.TestServer as a real second process (<c>dotnet IIC.Grpc.TestServer.dll HYPERVISOR DIR SERVICE</c>).
/// </summary>
internal static class TesterServerProcess
{
    public static ServerProcess Start(string hypervisor, string directory, string service, bool inlineHandlers = false, bool stateless = false)
        => stateless
            ? ServerProcess.Start("IIC.Grpc.TestServer.dll", "test server", hypervisor, directory, service, "inline-handlers", "stateless")
            : inlineHandlers
            ? ServerProcess.Start("IIC.Grpc.TestServer.dll", "test server", hypervisor, directory, service, "inline-handlers")
            : ServerProcess.Start("IIC.Grpc.TestServer.dll", "test server", hypervisor, directory, service);
}
