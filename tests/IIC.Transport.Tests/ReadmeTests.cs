using IIC.Tests;

namespace IIC.Transport.Tests;

/// <summary>
/// The README's "Using IICFast" section cannot rot: its ```csharp blocks are exactly the files
/// in ReadmeExample/ (modulo indentation), which the child test host compiles, and the example runs as two processes.
/// The project copies both the docs and the example sources next to the test assembly.
/// </summary>
public class ReadmeTests
{
    private static readonly string[] s_exampleFiles = ["EchoServer.cs", "EchoClient.cs"];

    [Fact]
    public void The_docs_code_blocks_are_the_compiled_example()
    {
        var root = AppContext.BaseDirectory;
        var blocks = CSharpBlocks(UsingSection(File.ReadAllLines(Path.Combine(root, "README.md"))));
        Assert.Equal(s_exampleFiles.Length, blocks.Count);
        for (var i = 0; i < s_exampleFiles.Length; i++)
        {
            var file = Path.Combine(root, "ReadmeExample", s_exampleFiles[i]);
            var expected = Normalize(File.ReadAllLines(file));
            var actual = Normalize(blocks[i]);
            for (var line = 0; line < Math.Min(expected.Count, actual.Count); line++)
            {
                Assert.True(expected[line] == actual[line],
                    $"README 'Using IICFast' block {i + 1} differs from ReadmeExample/{s_exampleFiles[i]} at line {line + 1}:{Environment.NewLine}  docs: {actual[line]}{Environment.NewLine}  code: {expected[line]}");
            }
            Assert.True(expected.Count == actual.Count, $"block {i + 1} has {actual.Count} lines, ReadmeExample/{s_exampleFiles[i]} has {expected.Count}");
        }
    }

    [Fact]
    public void The_example_runs_as_a_server_and_a_client_process()
    {
        var name = "readme-" + Guid.NewGuid().ToString("N")[..8];
        var directory = Directory.CreateTempSubdirectory("iic-readme-").FullName;
        try
        {
            using var server = ChildProcess.Start("readme-server", name, directory);
            Assert.Equal("listening on 'echo'", server.ReadLine(PartitionHost.Timeout));
            using var client = ChildProcess.Start("readme-client", name, directory);
            Assert.Equal("hello", client.ReadLine(PartitionHost.Timeout));
            Assert.Equal("world", client.ReadLine(PartitionHost.Timeout));
            Assert.Equal("over a stream", client.ReadLine(PartitionHost.Timeout));
            client.AssertExit(0, PartitionHost.Timeout);
            Assert.Equal("client closed", server.ReadLine(PartitionHost.Timeout));
            server.AssertExit(0, PartitionHost.Timeout);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>The lines of the README's "## Using IICFast" section, up to the next level-2 heading.</summary>
    private static string[] UsingSection(string[] lines)
    {
        var start = Array.FindIndex(lines, l => l.Trim() == "## Using IICFast");
        Assert.True(start >= 0, "the README has no '## Using IICFast' section");
        var end = Array.FindIndex(lines, start + 1, l => l.StartsWith("## ", StringComparison.Ordinal));
        return lines[start..(end < 0 ? lines.Length : end)];
    }

    private static List<string[]> CSharpBlocks(string[] lines)
    {
        var blocks = new List<string[]>();
        List<string>? current = null;
        foreach (var line in lines)
        {
            var trimmed = line.Trim();
            if (current is null && trimmed.StartsWith("```csharp", StringComparison.Ordinal))
            {
                current = [];
            }
            else if (current is not null && trimmed.StartsWith("```", StringComparison.Ordinal))
            {
                blocks.Add([.. current]);
                current = null;
            }
            else
            {
                current?.Add(line);
            }
        }
        Assert.True(current is null, "an unterminated ```csharp block");
        return blocks;
    }

    /// <summary>Indentation and trailing spaces do not count; blank lines do not either.</summary>
    private static List<string> Normalize(IEnumerable<string> lines) => [.. lines.Select(l => l.Trim()).Where(l => l.Length > 0)];
}
