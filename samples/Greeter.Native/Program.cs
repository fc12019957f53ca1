// The greeter over the native IICFast path: gRPC without HTTP/2.
//   dotnet run --project samples/Greeter.Native -- server    serves iic://greeter (native) and http://127.0.0.1:5001 (HTTP/2 over TCP)
//   dotnet run --project samples/Greeter.Native -- client    calls iic://greeter
//   dotnet run --project samples/Greeter.Native -- client --Services:greeter=http://127.0.0.1:5001    the same code over TCP
// The server starts an embedded hypervisor named "iicfast-native" (--Iic:HypervisorName=... to change it).
using Greeter;
using Microsoft.Extensions.Configuration;

var mode = args.FirstOrDefault() ?? "client";
var configuration = new ConfigurationBuilder()
    .AddInMemoryCollection(new Dictionary<string, string?>
    {
        ["Services:greeter"] = "iic://greeter",
        ["Iic:HypervisorName"] = "iicfast-native",
        ["Listen"] = "http://127.0.0.1:5001",
    })
    .AddEnvironmentVariables("GREETER_")
    .AddCommandLine(args.Skip(1).ToArray())
    .Build();

return mode switch
{
    "server" => await NativeGreeterServer.RunAsync(configuration),
    "client" => await NativeGreeterClient.RunAsync(configuration),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: Greeter.Native server|client [--Services:greeter=iic://greeter|http://HOST:PORT] [--Iic:HypervisorName=NAME]");
    return 2;
}
