using YamlDotNet.RepresentationModel;

namespace IIC.Isolation.Tests;

/// <summary>
/// deploy/ cannot be run here (no container engine, no cluster), so its promises are checked on the parsed files:
/// every hypervisor and service mounts the socket directory and nothing else from the host or each other; none asks
/// for the host's IPC, network or pid namespace or for /dev/shm; the services look for the hypervisor where it
/// listens. docs/deployment.md says the same in prose.
/// </summary>
public sealed class DeploymentManifestTests
{
    private static readonly string s_deploy = FindDeployDirectory();

    [Fact]
    public void Compose_shares_only_the_socket_volume_and_no_namespace()
    {
        var root = Load("compose.yaml").Single();
        var volume = Assert.IsType<YamlMappingNode>(Map(root, "volumes").Children.Single().Value);
        Assert.Contains("mode=0700", Scalar(Map(volume, "driver_opts"), "o"), StringComparison.Ordinal);
        var volumeName = Scalar(Map(root, "volumes").Children.Single().Key);
        var services = Map(root, "services");
        Assert.Equal(["hypervisor", "orders", "billing"], services.Children.Keys.Select(Scalar));
        string? socketDirectory = null;
        foreach (var (key, node) in services.Children)
        {
            var name = Scalar(key);
            var service = Effective((YamlMappingNode)node);
            Assert.Equal("none", Scalar(service, "network_mode"));
            Assert.Equal("private", Scalar(service, "ipc"));
            Assert.False(service.Children.ContainsKey("pid"), $"{name} must not share a pid namespace");
            var mounts = Sequence(service, "volumes").Select(Scalar).ToList();
            var mount = Assert.Single(mounts);
            Assert.StartsWith(volumeName + ":", mount, StringComparison.Ordinal);
            var path = mount[(volumeName.Length + 1)..];
            Assert.DoesNotContain("/dev/shm", path, StringComparison.Ordinal);
            if (name == "hypervisor")
            {
                var args = Sequence(service, "command").Select(Scalar).ToList();
                socketDirectory = args[args.IndexOf("--socket-dir") + 1];
                Assert.Equal(path, socketDirectory);
            }
            else
            {
                Assert.Equal(socketDirectory, Scalar(Map(service, "environment"), "IIC_SOCKET_DIR"));
            }
        }
    }

    [Theory]
    [InlineData("kubernetes/sidecar.yaml")]
    [InlineData("kubernetes/daemonset.yaml")]
    public void Kubernetes_pods_share_only_the_socket_directory_and_no_host_namespace(string file)
    {
        var pods = Load(file).Select(PodSpec).OfType<YamlMappingNode>().ToList();
        Assert.NotEmpty(pods);
        var hypervisorSocketDirectories = new List<string>();
        var serviceSocketDirectories = new List<string>();
        foreach (var pod in pods)
        {
            foreach (var field in new[] { "hostIPC", "hostNetwork", "hostPID", "shareProcessNamespace" })
            {
                Assert.True(!pod.Children.ContainsKey(field) || Scalar(pod, field) == "false", $"{file}: {field} must be false or absent");
            }
            var volume = Assert.Single(Sequence(pod, "volumes").Cast<YamlMappingNode>());
            Assert.True(volume.Children.ContainsKey("emptyDir") || volume.Children.ContainsKey("hostPath"), $"{file}: the one volume is the socket directory (emptyDir or hostPath)");
            if (volume.Children.ContainsKey("hostPath"))
            {
                Assert.StartsWith("/run/iic", Scalar(Map(volume, "hostPath"), "path"), StringComparison.Ordinal);
            }
            var containers = Containers(pod, "initContainers").Concat(Containers(pod, "containers"));
            foreach (var container in containers)
            {
                var mount = Assert.Single(Sequence(container, "volumeMounts").Cast<YamlMappingNode>());
                Assert.Equal(Scalar(volume, "name"), Scalar(mount, "name"));
                Assert.DoesNotContain("/dev/shm", Scalar(mount, "mountPath"), StringComparison.Ordinal);
                if (container.Children.ContainsKey("args"))
                {
                    var args = Sequence(container, "args").Select(Scalar).ToList();
                    if (args.Contains("--socket-dir"))
                    {
                        hypervisorSocketDirectories.Add(args[args.IndexOf("--socket-dir") + 1]);
                    }
                }
                if (container.Children.ContainsKey("env"))
                {
                    serviceSocketDirectories.AddRange(Sequence(container, "env").Cast<YamlMappingNode>()
                        .Where(e => Scalar(e, "name") == "IIC_SOCKET_DIR").Select(e => Scalar(e, "value")));
                }
            }
        }
        var socketDirectory = Assert.Single(hypervisorSocketDirectories.Distinct());
        Assert.NotEmpty(serviceSocketDirectories);
        Assert.All(serviceSocketDirectories, d => Assert.Equal(socketDirectory, d));
    }

    private static string FindDeployDirectory()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "deploy");
            if (File.Exists(Path.Combine(candidate, "compose.yaml")))
            {
                return candidate;
            }
        }
        throw new DirectoryNotFoundException($"No deploy/compose.yaml above {AppContext.BaseDirectory}: the test runs from the repository's build output.");
    }

    private static List<YamlMappingNode> Load(string file)
    {
        var stream = new YamlStream();
        using (var reader = new StreamReader(Path.Combine(s_deploy, file)))
        {
            stream.Load(reader);
        }
        return [.. stream.Documents.Select(d => d.RootNode).OfType<YamlMappingNode>()];
    }

    private static YamlMappingNode? PodSpec(YamlMappingNode document) => Scalar(document, "kind") switch
    {
        "Pod" => Map(document, "spec"),
        "DaemonSet" or "Deployment" => Map(Map(Map(document, "spec"), "template"), "spec"),
        _ => null,
    };

    private static IEnumerable<YamlMappingNode> Containers(YamlMappingNode pod, string field)
        => pod.Children.ContainsKey(field) ? Sequence(pod, field).Cast<YamlMappingNode>() : [];

    /// <summary>A compose service with its <c>&lt;&lt;: *anchor</c> merge applied (the representation model keeps it as a key).</summary>
    private static YamlMappingNode Effective(YamlMappingNode service)
    {
        var merged = new YamlMappingNode();
        if (service.Children.TryGetValue(new YamlScalarNode("<<"), out var baseNode))
        {
            foreach (var (key, value) in ((YamlMappingNode)baseNode).Children)
            {
                merged.Add(key, value);
            }
        }
        foreach (var (key, value) in service.Children.Where(c => Scalar(c.Key) != "<<"))
        {
            merged.Children[key] = value;
        }
        return merged;
    }

    private static YamlMappingNode Map(YamlMappingNode node, string key) => Assert.IsType<YamlMappingNode>(node[key]);

    private static IEnumerable<YamlNode> Sequence(YamlMappingNode node, string key) => Assert.IsType<YamlSequenceNode>(node[key]).Children;

    private static string Scalar(YamlMappingNode node, string key) => Scalar(node[key]);

    private static string Scalar(YamlNode node) => Assert.IsType<YamlScalarNode>(node).Value ?? "";
}
